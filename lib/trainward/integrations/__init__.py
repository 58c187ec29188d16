"""Where trainward meets the assistants: installing the skills and the guard hook."""
