from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.builder.models import Flow, FlowVersion
from apps.builder.services import EXPORT_FORMAT, MAX_DESCRIPTION, MAX_NAME
from apps.config.serializers import ErrorSerializer, StrictSerializer
from flows.spec import MAX_NODES, FlowSpec
from flows.validate import validate


def _openapi_3_0(node: Any, defs: dict[str, Any]) -> Any:
    """pydantic's JSON Schema, inlined ($defs) and with `anyOf [..., null]` as `nullable`."""
    if isinstance(node, list):
        return [_openapi_3_0(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _openapi_3_0(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    node = {key: _openapi_3_0(value, defs) for key, value in node.items() if key != "$defs"}
    variants = node.get("anyOf", [])
    if {"type": "null"} in variants and len(variants) == 2:
        node.pop("anyOf")
        node.update(next(v for v in variants if v != {"type": "null"}), nullable=True)
    return node


_FLOW_SPEC_SCHEMA = FlowSpec.model_json_schema()
FLOW_SPEC_SCHEMA: dict[str, Any] = _openapi_3_0(_FLOW_SPEC_SCHEMA, _FLOW_SPEC_SCHEMA.get("$defs", {}))


@extend_schema_field(FLOW_SPEC_SCHEMA, component_name="FlowSpec")
class GraphField(serializers.JSONField):
    """A flow graph: any JSON object here; the services check it is a FlowSpec."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object (a flow spec).")
        return value


# --- input ------------------------------------------------------------------------------------


class FlowCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=MAX_NAME, min_length=1)
    description = serializers.CharField(max_length=MAX_DESCRIPTION, allow_blank=True, default="")
    graph = GraphField(required=False, help_text="Leave out to start from chat input -> prompt -> LLM -> output.")


class FlowUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=MAX_NAME, min_length=1, required=False)
    description = serializers.CharField(max_length=MAX_DESCRIPTION, allow_blank=True, required=False)


class DraftIn(StrictSerializer):
    graph = GraphField()
    revision = serializers.IntegerField(min_value=0, help_text="The revision the edit started from.")


class ValidateIn(StrictSerializer):
    graph = GraphField(required=False, help_text="Leave out to validate the saved draft.")


class PublishIn(StrictSerializer):
    note = serializers.CharField(max_length=500, allow_blank=True, default="")
    override_reason = serializers.CharField(
        max_length=1000,
        allow_blank=True,
        default="",
        help_text="An admin's reason to publish past a failed evaluation gate (audited).",
    )


class RollbackIn(StrictSerializer):
    version = serializers.IntegerField(min_value=1, help_text="The version number to publish again.")


class DuplicateIn(StrictSerializer):
    name = serializers.CharField(max_length=MAX_NAME, min_length=1, required=False)


class FlowExportOut(serializers.Serializer):  # type: ignore[type-arg]
    format = serializers.CharField(help_text=f"Always {EXPORT_FORMAT!r}")
    format_version = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    graph = GraphField()


class FlowImportIn(FlowExportOut):
    """Documents the import body; the import service checks it (answers `invalid_import`)."""

    description = serializers.CharField(allow_blank=True, required=False)


# --- output -----------------------------------------------------------------------------------


class IssueOut(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField()
    message = serializers.CharField()
    pointer = serializers.CharField(help_text="JSON pointer into the graph")
    node = serializers.CharField(allow_null=True)
    edge = serializers.CharField(allow_null=True)


class IssuesOut(serializers.Serializer):  # type: ignore[type-arg]
    issues = IssueOut(many=True)


class GraphErrorOut(ErrorSerializer):
    issues = IssueOut(many=True, required=False, help_text="With the codes flow_invalid and invalid_graph")


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class FlowOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    published_version = serializers.SerializerMethodField(help_text="The number of the published version")
    created_by = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()

    class Meta:
        model = Flow
        fields = [
            "id",
            "name",
            "description",
            "revision",
            "published_version",
            "created_by",
            "updated_by",
            "created_at",
            "updated_at",
        ]

    def get_published_version(self, flow: Flow) -> int | None:
        version = flow.published_version
        return version.number if version is not None else None

    def get_created_by(self, flow: Flow) -> str | None:
        return _username(flow.created_by)

    def get_updated_by(self, flow: Flow) -> str | None:
        return _username(flow.updated_by)


class FlowDetailOut(FlowOut):
    draft = GraphField()
    issues = serializers.SerializerMethodField(help_text="What would stop the draft from being published")

    class Meta(FlowOut.Meta):
        fields = [*FlowOut.Meta.fields, "draft", "issues"]

    @extend_schema_field(IssueOut(many=True))
    def get_issues(self, flow: Flow) -> list[dict[str, Any]]:
        return [issue.to_dict() for issue in validate(flow.draft)]


class CallablePortOut(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    type = serializers.CharField(required=False, help_text="Inputs: the port type")
    format = serializers.CharField(required=False, help_text="Outputs: text or json")


class CallableFlowOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField(help_text="The published version a sub-flow runs")
    inputs = CallablePortOut(many=True, help_text="From its chat input node")
    outputs = CallablePortOut(many=True, help_text="From its output nodes")


class FlowPageOut(serializers.Serializer):  # type: ignore[type-arg]
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = FlowOut(many=True)


class DraftSavedOut(IssuesOut):
    revision = serializers.IntegerField()


class FlowVersionOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    published = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = FlowVersion
        fields = ["id", "number", "note", "published", "created_by", "created_at"]

    def get_published(self, version: FlowVersion) -> bool:
        return bool(version.pk == self.context["published_version_id"])

    def get_created_by(self, version: FlowVersion) -> str | None:
        return _username(version.created_by)


class FlowVersionDetailOut(FlowVersionOut):
    graph = GraphField()

    class Meta(FlowVersionOut.Meta):
        fields = [*FlowVersionOut.Meta.fields, "graph"]


class PositionOut(serializers.Serializer):  # type: ignore[type-arg]
    x = serializers.FloatField()
    y = serializers.FloatField()


class NodeSummaryOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    type = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]


class NodeChangeOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    type = serializers.CharField()
    fields = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="Of type, version, label, config, position"
    )
    config_keys = serializers.ListField(
        child=serializers.CharField(), help_text="Config keys added, removed or changed"
    )
    before = serializers.DictField(
        help_text="Old type/version/label/position, for those that changed; `config`: the changed keys' old values"
    )
    after = serializers.DictField(
        help_text="New type/version/label/position, for those that changed; `config`: the changed keys' new values"
    )


class NodeMoveOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    before = PositionOut()
    after = PositionOut()


class EdgeOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    source_port = serializers.CharField()
    target = serializers.CharField()
    target_port = serializers.CharField()


class NodeDiffOut(serializers.Serializer):  # type: ignore[type-arg]
    added = NodeSummaryOut(many=True)
    removed = NodeSummaryOut(many=True)
    changed = NodeChangeOut(many=True)
    moved = NodeMoveOut(many=True, help_text="Nodes whose position alone changed")


class EdgeDiffOut(serializers.Serializer):  # type: ignore[type-arg]
    added = EdgeOut(many=True)
    removed = EdgeOut(many=True)


class FlowDiffOut(serializers.Serializer):  # type: ignore[type-arg]
    nodes = NodeDiffOut()
    edges = EdgeDiffOut()
    identical = serializers.BooleanField()

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        fields = super().get_fields()
        # `from` is a Python keyword, so these two cannot be class attributes.
        fields["from"] = serializers.CharField(allow_null=True, help_text="A version number; null: the empty graph")
        fields["to"] = serializers.CharField(help_text="A version number or 'draft'")
        return fields


class PortOut(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]
    description = serializers.CharField(allow_blank=True)


class NodeTypeOut(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    icon = serializers.CharField()
    config_schema = serializers.DictField(help_text="JSON Schema of the node's config")
    inputs = serializers.DictField(child=PortOut())
    outputs = serializers.DictField(child=PortOut())
    dynamic_inputs = serializers.BooleanField(help_text="Inputs depend on the config (e.g. prompt variables)")
    dynamic_outputs = serializers.BooleanField(help_text="Outputs depend on the config (e.g. branch routes)")
    entry = serializers.BooleanField()
    terminal = serializers.BooleanField()


class NodeCatalogOut(serializers.Serializer):  # type: ignore[type-arg]
    node_types = NodeTypeOut(many=True)
    tools = serializers.ListField(child=serializers.CharField())
    port_compatibility = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Port type -> the input port types it may feed (the editor refuses other connections)",
    )


class NodePortsQueryIn(StrictSerializer):
    id = serializers.CharField(max_length=64)
    type = serializers.CharField(max_length=64)
    version = serializers.IntegerField(min_value=1, default=1)
    config = serializers.DictField(default=dict)


class PortsIn(StrictSerializer):
    nodes = NodePortsQueryIn(many=True)

    def validate_nodes(self, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(nodes) > MAX_NODES:
            raise serializers.ValidationError(f"At most {MAX_NODES} nodes.")
        return nodes


class NodePortsOut(serializers.Serializer):  # type: ignore[type-arg]
    inputs = serializers.DictField(child=PortOut())
    outputs = serializers.DictField(child=PortOut())
    config_valid = serializers.BooleanField(help_text="False: the config does not parse; the ports are the static ones")


class PortsOut(serializers.Serializer):  # type: ignore[type-arg]
    ports = serializers.DictField(child=NodePortsOut(), help_text="By node id; unknown types are left out")
