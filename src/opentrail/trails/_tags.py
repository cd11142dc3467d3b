"""Trail tags: CloudTrail's key and value rules and its 50-tags-per-resource limit."""

from __future__ import annotations

from opentrail.errors import InvalidTagParameter, TagsLimitExceeded

__all__ = ["MAX_TAGS", "check_tags", "merge_tags", "remove_tags"]

MAX_TAGS = 50
_KEY_PUNCTUATION = frozenset("_.:/=+-@")


def _invalid(message: str) -> InvalidTagParameter:
    return InvalidTagParameter(message)


def _check_text(text: object, what: str, low: int, high: int) -> str:
    if not isinstance(text, str) or not low <= len(text) <= high:
        raise _invalid(f"{what} must be a string of {low} to {high} characters.")
    if not all(c.isalnum() or c.isspace() or c in _KEY_PUNCTUATION for c in text):
        raise _invalid(f"{what} {text!r} may contain only letters, digits, spaces and "
                       "_ . : / = + - @.")
    return text


def check_tags(tags: object, *, values: bool = True) -> list[dict[str, str]]:
    """A TagsList: unique keys of 1-128 characters, values of 0-256, no `aws:` keys."""
    if not isinstance(tags, list):
        raise _invalid("TagsList must be a list of {Key, Value} objects.")
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, tag in enumerate(tags):
        if not isinstance(tag, dict):
            raise _invalid(f"TagsList[{i}] must be an object with Key and Value.")
        key = _check_text(tag.get("Key"), f"TagsList[{i}].Key", 1, 128)
        if key.lower().startswith("aws:"):
            raise _invalid(f"TagsList[{i}].Key {key!r} uses the reserved prefix aws:.")
        if key in seen:
            raise _invalid(f"TagsList names the key {key!r} more than once.")
        seen.add(key)
        item = {"Key": key}
        if values and tag.get("Value") is not None:
            item["Value"] = _check_text(tag["Value"], f"TagsList[{i}].Value", 0, 256)
        out.append(item)
    return out


def _limit(tags: list[dict[str, str]], resource: str) -> list[dict[str, str]]:
    if len(tags) > MAX_TAGS:
        raise TagsLimitExceeded(f"The resource {resource} would have {len(tags)} tags; at "
                                f"most {MAX_TAGS} are allowed.")
    return tags


def merge_tags(current: list[dict[str, str]], new: list[dict[str, str]],
               resource: str) -> list[dict[str, str]]:
    """AddTags: new keys are added, existing keys take the new value."""
    merged = {t["Key"]: t for t in current}
    merged.update({t["Key"]: t for t in new})
    return _limit(list(merged.values()), resource)


def remove_tags(current: list[dict[str, str]], keys: list[dict[str, str]]) -> list[dict[str, str]]:
    gone = {t["Key"] for t in keys}
    return [t for t in current if t["Key"] not in gone]
