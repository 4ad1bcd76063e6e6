from django.urls import path

from chat import views

urlpatterns = [
    path("", views.room, name="lobby"),
    path("<slug:slug>/", views.room, name="room"),
]
