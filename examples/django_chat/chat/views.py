"""The page of one chat room."""

from django.shortcuts import render


def room(request, slug="lobby"):
    return render(request, "room.html", {"room": slug})
