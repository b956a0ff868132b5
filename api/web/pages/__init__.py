"""Page controllers, one module per kind of user, plus sign-in and the image renditions."""
