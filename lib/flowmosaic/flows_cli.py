"""(being written)"""


def register_cli(sub, add_common) -> None:
    return None
