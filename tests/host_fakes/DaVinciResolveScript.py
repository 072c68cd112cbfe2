"""Fake of Resolve's ``DaVinciResolveScript`` module (the external-scripting entry point)."""

#: The application the harness built; ``scriptapp("Resolve")`` returns it.
APP = None


def scriptapp(name):
    return APP if name == "Resolve" else None
