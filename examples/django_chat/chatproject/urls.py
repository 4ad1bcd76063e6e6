"""URLs: Socket.IO through gsocketio.sdjango, the rest to the chat app (as the seed's)."""

from django.urls import include, path, re_path

from gsocketio import sdjango

sdjango.autodiscover()

urlpatterns = [
    re_path(r"^socket\.io", include(sdjango.urls)),
    path("", include("chat.urls")),
]
