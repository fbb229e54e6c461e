"""Read a policy file (JSON or YAML) into targets with their effective policy.

Steps, each collecting problems instead of stopping at the first:

1. parse the text (duplicate keys are errors: last-wins would silently drop a setting);
2. expand ``${ENV_VAR}`` (``$${X}`` is a literal ``${X}``); secrets are kept out of messages by
   field, not by value: a problem at a ``SecretStr`` field never quotes its input, and nothing
   else is rewritten, so paths, enum names and line numbers stay exact whatever the environment holds;
3. recognise the layout (bare ``IPv6SecurityConfig``, ``IPv6Config``, ``CreateVm``
   request, ``metald.network.ipv6`` host or multi-tenant file) and check its
   structure with the schema, reporting every error at its document path;
4. merge, per target, these layers, later ones winning field by field
   (mappings merge recursively, lists and scalars replace, ``null`` = not given):
   profile defaults < host-wide sections < ``default_security`` < ``customer_configs[name]``.
   The profile is the first one stated in customer config, ``default_security``, host section.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from v6ops.policy.problems import Problem, error, warning
from v6ops.policy.profiles import profile_defaults
from v6ops.policy.schema import (
    CreateVmRequest,
    DocumentShape,
    HostFile,
    HostIPv6Section,
    IPv6Config,
    IPv6SecurityConfig,
    Message,
    PolicyDocument,
    PolicyTarget,
    SecurityProfile,
)

HOST_PATH = "metald.network.ipv6"
PROFILE_ORIGIN = "profile:"  # origin prefix of a value filled in from profile defaults
ModelT = TypeVar("ModelT", bound=BaseModel)
MessageT = TypeVar("MessageT", bound=Message)
_ENV_REF = re.compile(r"\$(\$?)\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class PolicyLoadError(ValueError):
    """The document could not be turned into targets; ``problems`` says every reason."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        first = problems[0].message if problems else "unknown error"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{source}: {first}{more}")


@dataclass
class LoadResult:
    """A document (``None`` when its structure is broken) plus every problem met on the way."""

    source: str
    document: PolicyDocument | None
    problems: list[Problem]
    lines: dict[str, int] = field(default_factory=dict, repr=False)  # YAML document path -> line

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest written ancestor (a missing key points at its parent)."""
        probe = path
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None

    def located(self, problems: Iterable[Problem]) -> list[Problem]:
        """Problems with their YAML line filled in, where the document has one."""
        return [p if p.line is not None or not self.lines else p.model_copy(update={"line": self.line_of(p.path)})
                for p in problems]


def format_path(loc: Iterable[str | int]) -> str:
    """``("a", "b", 0, "c")`` -> ``a.b[0].c``; keys that are not plain words are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def join_path(base: str, rel: str) -> str:
    if not base or not rel:
        return base or rel
    return base + rel if rel.startswith("[") else f"{base}.{rel}"


# -- 1. text ---------------------------------------------------------------


class _DuplicateKeyError(ValueError):
    """A mapping key written twice in one YAML/JSON object."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(f"duplicate key {key!r}: the earlier value would be silently lost")
        out[key] = value
    return out


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}: the earlier value would be silently lost", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def detect_format(source: str, text: str) -> str:
    suffix = Path(source).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    return "json" if text.lstrip().startswith(("{", "[")) else "yaml"


def parse_text(text: str, source: str, fmt: str | None = None) -> Any:
    """JSON or YAML text -> plain data; raises ``PolicyLoadError`` with the line of a syntax error."""
    fmt = fmt or detect_format(source, text)
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_no_duplicates)
        return yaml.load(text, Loader=_StrictLoader)
    except json.JSONDecodeError as exc:
        problem = error("", "syntax", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except _DuplicateKeyError as exc:
        problem = error("", "duplicate-key", str(exc))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        code = "duplicate-key" if "duplicate key" in reason else "syntax"
        problem = error("", code, f"not valid YAML: {reason}{where}")
    raise PolicyLoadError(source, [problem])


# -- 2. environment --------------------------------------------------------


def expand_env(data: Any, environ: Mapping[str, str], path: str = "") -> tuple[Any, list[Problem]]:
    """Replace ``${NAME}`` in every string; unset or malformed references are problems at their path."""
    problems: list[Problem] = []

    def walk(node: Any, loc: tuple[str | int, ...]) -> Any:
        # the path is only formatted when a reference is found: documents with 10,000 tenants stay fast
        if isinstance(node, dict):
            return {k: walk(v, (*loc, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*loc, i)) for i, v in enumerate(node)]
        if not isinstance(node, str) or "${" not in node:
            return node
        at = join_path(path, format_path(loc))

        def substitute(match: re.Match[str]) -> str:
            escaped, name = match.group(1), match.group(2)
            if escaped:
                return "${" + name + "}"
            if not _ENV_NAME.fullmatch(name):
                problems.append(error(at, "env-reference", f"'${{{name}}}' is not a valid environment variable name"))
                return match.group(0)
            if name not in environ:
                problems.append(error(at, "env-unset", f"environment variable {name} is not set"))
                return match.group(0)
            return environ[name]

        return _ENV_REF.sub(substitute, node)

    return walk(data, ()), problems


# -- 3. structure ----------------------------------------------------------


def _annotation_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> Any:
    """The declared type at ``loc`` (list items and mapping values unwrapped), or None when unknown."""
    current: Any = model
    for part in loc:
        while True:
            origin = typing.get_origin(current)
            if origin is typing.Annotated:
                current = typing.get_args(current)[0]
            elif origin in (typing.Union, types.UnionType):
                current = next(a for a in typing.get_args(current) if a is not type(None))
            elif origin in (list, dict):
                current = typing.get_args(current)[-1]
                break
            else:
                break
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part)
            if info is None:
                return None
            current = info.annotation
    while typing.get_origin(current) in (typing.Annotated, typing.Union, types.UnionType):
        current = next(a for a in typing.get_args(current) if a is not type(None))
    return current


def _field_names(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The fields a mapping at ``loc`` may hold, for 'did you mean' hints."""
    current = _annotation_at(model, loc)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def is_secret_field(model: type[BaseModel], loc: tuple[str | int, ...]) -> bool:
    """True at a ``SecretStr`` field: the only values kept out of every message, dump and log."""
    return _annotation_at(model, loc) is SecretStr


def parse_structure(model: type[ModelT], data: Any, base: str = "") -> tuple[ModelT | None, list[Problem]]:
    """The model, or every schema error in ``data``, each at its document path."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            path = join_path(base, format_path(loc))
            if err["type"] == "extra_forbidden":
                allowed = _field_names(model, loc[:-1])
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else (
                    f"; expected one of {', '.join(allowed)}" if allowed else "")
                problems.append(error(path, "unknown-field", f"unknown field {loc[-1]!r}{hint}"))
            elif is_secret_field(model, loc):
                # A validator may quote its input; a secret's never is (redaction by field, not by value).
                problems.append(error(path, "schema", f"not a valid secret ({err['type']}); the value is not shown"))
            else:
                message = err["msg"].removeprefix("Value error, ")
                problems.append(error(path, "schema", message))
        return None, problems


def detect_shape(data: dict[str, Any]) -> DocumentShape:
    if "metald" in data:
        ipv6: Any = data
        for key in ("metald", "network", "ipv6"):  # any level may be malformed; the schema reports it
            ipv6 = ipv6.get(key) if isinstance(ipv6, dict) else None
        return DocumentShape.MULTI_TENANT if isinstance(ipv6, dict) and ipv6.get("customer_configs") \
            else DocumentShape.HOST
    if "config" in data:
        return DocumentShape.VM_REQUEST
    if {"enabled", "addresses", "security", "interface"} & data.keys():
        return DocumentShape.IPV6_CONFIG
    return DocumentShape.SECURITY


# -- 4. layers -------------------------------------------------------------


def _drop_nulls(data: Any) -> Any:
    """``key: null`` (or YAML ``key:``) means not given, as in proto3 JSON."""
    if isinstance(data, dict):
        return {k: _drop_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_nulls(v) for v in data]
    return data


SecurityLayer = tuple[str, IPv6SecurityConfig]  # (document path of the layer, what it states)


def _overlay(base: MessageT, layer: Message, path: str, rel: str, origins: dict[str, str]) -> MessageT:
    """``base`` with every field ``layer`` states; nested messages merge, lists and scalars replace.

    Models are frozen, so untouched sub-messages are shared between targets, not copied.
    """
    updates: dict[str, Any] = {}
    for name in layer.model_fields_set & type(base).model_fields.keys():
        value = getattr(layer, name)
        rel_name = f"{rel}.{name}" if rel else name
        if isinstance(value, Message):
            updates[name] = _overlay(getattr(base, name), value, path, rel_name, origins)
        else:
            updates[name] = value
            origins[rel_name] = f"{path}.{rel_name}" if path else rel_name
    return base.model_copy(update=updates) if updates else base


def _profile_of(layers: list[SecurityLayer]) -> tuple[SecurityProfile, str | None]:
    """The profile of the most specific layer that states one, and where it is stated."""
    for path, layer in reversed(layers):
        if "profile" in layer.model_fields_set:
            return layer.profile, join_path(path, "profile")
    return SecurityProfile.UNSPECIFIED, None


@cache
def _profile_base(profile: SecurityProfile) -> tuple[IPv6SecurityConfig, dict[str, str]]:
    origins: dict[str, str] = {}
    config = _overlay(IPv6SecurityConfig(), profile_defaults(profile), f"{PROFILE_ORIGIN}{profile.value}", "", origins)
    return config.model_copy(update={"profile": profile}), origins


def from_profile(origins: Mapping[str, str], field_path: str) -> bool:
    """True when ``field_path`` was filled in by profile defaults, not written in the document."""
    return origins.get(field_path, PROFILE_ORIGIN).startswith(PROFILE_ORIGIN)


def _scale_profile_burst(config: IPv6SecurityConfig, origins: dict[str, str]) -> IPv6SecurityConfig:
    """A profile's burst is a time slice of the rate: keep it so when the document changes only the rate."""
    rates = config.rate_limits
    burst = rates.burst_config
    if not (burst.burst_packets and from_profile(origins, "rate_limits.burst_config.burst_packets")
            and from_profile(origins, "rate_limits.burst_config.burst_duration_ms")
            and not from_profile(origins, "rate_limits.max_pps_per_vm")):
        return config
    packets = rates.max_pps_per_vm * burst.burst_duration_ms // 1000
    burst = burst.model_copy(update={"burst_packets": packets})
    return config.model_copy(update={"rate_limits": rates.model_copy(update={"burst_config": burst})})


def _layered(profile: SecurityProfile, layers: list[SecurityLayer]) -> tuple[IPv6SecurityConfig, dict[str, str]]:
    config, base_origins = _profile_base(profile)
    origins = dict(base_origins)
    for path, layer in layers:
        config = _overlay(config, layer, path, "", origins)
    return config, origins


def _finish(name: str, config: IPv6SecurityConfig, origins: dict[str, str], profile_path: str | None,
            document_path: str, **extra: Any) -> PolicyTarget:
    origins.pop("profile", None)
    if profile_path:
        origins["profile"] = profile_path
    return PolicyTarget.model_construct(
        name=name, security=_scale_profile_burst(config, origins), document_path=document_path, origins=origins,
        **{"enabled": True, "addresses": [], "interface": None, "config_path": "", **extra},
    )


def build_target(name: str, layers: list[SecurityLayer], **extra: Any) -> PolicyTarget:
    """The effective policy of one target: its profile's defaults, then each layer in order."""
    profile, profile_path = _profile_of(layers)
    config, origins = _layered(profile, layers)
    return _finish(name, config, origins, profile_path, layers[-1][0] if layers else "", **extra)


def _tenants(section: HostIPv6Section, shared: list[SecurityLayer]) -> list[PolicyTarget]:
    """One target per customer; the shared layers are applied once per profile, not once per customer."""
    bases: dict[SecurityProfile, tuple[IPv6SecurityConfig, dict[str, str]]] = {}
    targets = []
    for customer, own in section.customer_configs.items():
        path = join_path(f"{HOST_PATH}.customer_configs", format_path([customer]))
        profile, profile_path = _profile_of([*shared, (path, own)])
        if profile not in bases:
            bases[profile] = _layered(profile, shared)
        config, base_origins = bases[profile]
        origins = dict(base_origins)
        config = _overlay(config, own, path, "", origins)
        targets.append(_finish(customer, config, origins, profile_path, path, enabled=section.enabled))
    return targets


def _targets(shape: DocumentShape, model: BaseModel, name: str) -> list[PolicyTarget]:
    if isinstance(model, IPv6SecurityConfig) and shape is DocumentShape.SECURITY:
        return [build_target(name, [("", model)])]
    if isinstance(model, IPv6Config | CreateVmRequest):
        vm = model.config.ipv6_config if isinstance(model, CreateVmRequest) else model
        base = "config.ipv6_config" if isinstance(model, CreateVmRequest) else ""
        return [build_target(name, [(join_path(base, "security"), vm.security)], enabled=vm.enabled,
                             addresses=list(vm.addresses), interface=vm.interface, config_path=base)]
    assert isinstance(model, HostFile)
    section = model.metald.network.ipv6
    layers: list[SecurityLayer] = [(HOST_PATH, section)]
    if shape is DocumentShape.HOST:
        return [build_target(name, layers, enabled=section.enabled)]
    if section.default_security is not None:
        layers.append((f"{HOST_PATH}.default_security", section.default_security))
    return _tenants(section, layers)


_SHAPE_MODEL: dict[DocumentShape, type[BaseModel]] = {
    DocumentShape.SECURITY: IPv6SecurityConfig,
    DocumentShape.IPV6_CONFIG: IPv6Config,
    DocumentShape.VM_REQUEST: CreateVmRequest,
    DocumentShape.HOST: HostFile,
    DocumentShape.MULTI_TENANT: HostFile,
}


def load_data(
    data: Any, source: str, *, name: str | None = None, environ: Mapping[str, str] | None = None,
    expand: bool = True,
) -> LoadResult:
    """Plain data -> ``LoadResult``. ``expand=False`` keeps ``${X}`` literally (the API never reads our env)."""
    name = name or Path(source).stem or "policy"
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        return LoadResult(source, None, [error("", "not-a-mapping", f"the document must be a mapping, not {kind}")])
    problems: list[Problem] = []
    if expand:
        data, problems = expand_env(data, os.environ if environ is None else environ)
    data = _drop_nulls(data)
    shape = detect_shape(data)
    model, structure = parse_structure(_SHAPE_MODEL[shape], data)
    problems += structure
    if shape is DocumentShape.VM_REQUEST and isinstance(data.get("config"), dict) \
            and "ipv6_config" not in data["config"]:
        problems.append(warning("config", "no-ipv6-config", "config has no ipv6_config: there is nothing to secure"))
    result = LoadResult(source, None, problems)
    if model is None:
        return result
    if isinstance(model, HostFile) and shape is DocumentShape.HOST and model.metald.network.ipv6.default_security:
        result.problems.append(warning(f"{HOST_PATH}.default_security", "default-security-unused",
                                       "default_security applies to customer_configs, and there are none"))
    result.document = PolicyDocument.model_construct(source=source, shape=shape, targets=_targets(shape, model, name))
    return result


def yaml_lines(text: str) -> dict[str, int]:
    """Document path -> 1-based line of every key and list item, so YAML problems can name their line."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = join_path(path, format_path([str(key.value)]))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{path}[{i}]"] = item.start_mark.line + 1
                walk(item, f"{path}[{i}]")

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return lines


def load_text(text: str, source: str, *, fmt: str | None = None, **kwargs: Any) -> LoadResult:
    fmt = fmt or detect_format(source, text)
    try:
        data = parse_text(text, source, fmt)
    except PolicyLoadError as exc:
        return LoadResult(source, None, exc.problems)
    result = load_data(data, source, **kwargs)
    if fmt == "yaml":
        result.lines = yaml_lines(text)
        result.problems = result.located(result.problems)
    return result


def load_file(path: str | Path, **kwargs: Any) -> LoadResult:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LoadResult(source, None, [error("", "unreadable", f"cannot read {source}: {reason}")])
    return load_text(text, source, **kwargs)


def load_policy(path: str | Path, **kwargs: Any) -> PolicyDocument:
    """Load or raise ``PolicyLoadError``; structure only (use ``validate.load_validated`` before applying)."""
    result = load_file(path, **kwargs)
    errors = [p for p in result.problems if p.severity == "error"]
    if result.document is None or errors:
        raise PolicyLoadError(result.source, errors or result.problems)
    return result.document
