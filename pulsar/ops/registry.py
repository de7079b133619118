"""The operator registry: (domain, ONNX op type) -> implementations by opset version.

An op class registers itself with `@register("Conv", since=11)` in its family module. At import
the highest `since` not above the model's opset for that domain is picked, as onnx's reference
evaluator does, so version-specific behaviour is a second registration of a (sub)class.
"""
from bisect import insort

_REGISTRY: dict[tuple[str, str], list[tuple[int, type]]] = {}
DOMAIN_ALIASES = {"ai.onnx": ""}


def register(op_type: str, since: int = 1, domain: str = ""):
    def wrap(cls):
        key = (DOMAIN_ALIASES.get(domain, domain), op_type)
        insort(_REGISTRY.setdefault(key, []), (since, cls), key=lambda item: item[0])
        if "onnx_name" not in cls.__dict__:
            cls.onnx_name = op_type
        if "onnx_domain" not in cls.__dict__:
            cls.onnx_domain = key[0]
        return cls
    return wrap


def lookup(domain: str, op_type: str, opset: int):
    """The implementation for `op_type` at `opset`, or None when pulsar has none."""
    versions = _REGISTRY.get((DOMAIN_ALIASES.get(domain, domain), op_type))
    if not versions:
        return None
    chosen = None
    for since, cls in versions:
        if since <= opset:
            chosen = cls
    return chosen

