"""The ``fields=`` partial-response parameter of the JSON API.

Syntax (as GCS accepts it): a comma list of selectors; a selector is a path
of names separated by ``/`` and may end in a parenthesised sub-list, e.g.
``items(name,size,metadata/mtime),prefixes,nextPageToken``.  Lists are
filtered element by element.  Only what was asked for is returned, ``kind``
included.
"""

from . import errors

ALL = None      # marker in a selection tree: keep the whole value


def parse(text):
    """Parse a fields expression into a tree: {name: subtree or ALL}."""
    tree, pos = _parse_list(text, 0)
    if pos != len(text):
        raise _bad(text)
    return tree


def _bad(text):
    return errors.invalid("Invalid field selection %s" % text)


def _merge(tree, name, sub):
    if name in tree:
        old = tree[name]
        if old is ALL or sub is ALL:
            tree[name] = ALL
        else:
            for key, value in sub.items():
                _merge(old, key, value)
    else:
        tree[name] = sub


def _parse_list(text, pos):
    tree = {}
    while True:
        names = []
        start = pos
        while pos < len(text) and text[pos] not in ",()":
            pos += 1
        path = text[start:pos].strip()
        if not path:
            raise _bad(text)
        names = [p.strip() for p in path.split("/")]
        if any(not n for n in names):
            raise _bad(text)
        sub = ALL
        if pos < len(text) and text[pos] == "(":
            sub, pos = _parse_list(text, pos + 1)
            if pos >= len(text) or text[pos] != ")":
                raise _bad(text)
            pos += 1
        for name in reversed(names[1:]):
            sub = {name: sub}
        _merge(tree, names[0], sub)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return tree, pos


def apply(value, tree):
    if tree is ALL:
        return value
    if isinstance(value, list):
        return [apply(item, tree) for item in value]
    if isinstance(value, dict):
        if "*" not in tree:
            # The usual case, and the fast one: walk the few names asked for.
            return {key: apply(value[key], sub) for key, sub in tree.items() if key in value}
        result = {}
        for key, item in value.items():
            if key in tree:
                result[key] = apply(item, tree[key])
            else:
                result[key] = apply(item, tree["*"])
        return result
    return value


def filter_response(value, fields_param):
    if not fields_param:
        return value
    return apply(value, parse(fields_param))
