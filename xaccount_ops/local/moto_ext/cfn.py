"""Placeholder: being written."""


def install() -> None:
    """Nothing yet."""
