"""HTTP shape of customer groups and memberships."""

from __future__ import annotations

from rest_framework import serializers

from billingengine.api.fastpath import CachedFieldsMixin, FastRepresentationMixin
from billingengine.api.serializers import StrictCharField, StrictFieldsMixin, StrictUUIDField
from billingengine.validators import no_control_characters
from customers.models import Customer
from groups.models import Group, Membership


class GroupSerializer(FastRepresentationMixin, CachedFieldsMixin, StrictFieldsMixin, serializers.ModelSerializer):
    """A customer group as the API reads and writes it."""

    customer_count = serializers.IntegerField(read_only=True, help_text="Number of current members.")
    description = StrictCharField(
        required=False, allow_blank=True, allow_null=True, max_length=10000, help_text="What the group is for."
    )

    class Meta:
        model = Group
        fields = ("id", "name", "description", "customer_count", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        validators = []  # name uniqueness is the database's job; conflicts are mapped to 409
        extra_kwargs = {"name": {"help_text": "Unique name, ignoring case (at most 255 characters)."}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("customer_count") is None:
            data["customer_count"] = Membership.objects.current().filter(group=instance).count()
        return data


class MembershipSerializer(FastRepresentationMixin, CachedFieldsMixin, serializers.ModelSerializer):
    """A customer's membership of a group."""

    group_id = serializers.UUIDField(read_only=True)
    customer_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Membership
        fields = ("group_id", "customer_id", "joined_at", "left_at")
        read_only_fields = fields
        extra_kwargs = {
            "joined_at": {"help_text": "When the membership starts (or started); later than now: scheduled."},
            "left_at": {"help_text": "When it ends (or ended); null while it has no planned end."},
        }


class CustomerMembershipSerializer(serializers.ModelSerializer):
    """One of a customer's memberships, past, current or scheduled (deleted groups included)."""

    group_id = serializers.UUIDField(read_only=True)
    group_name = serializers.CharField(read_only=True, source="group.name", help_text="The group's name.")

    class Meta:
        model = Membership
        fields = ("id", "group_id", "group_name", "joined_at", "left_at")
        read_only_fields = fields
        extra_kwargs = MembershipSerializer.Meta.extra_kwargs


class MembershipEndQuerySerializer(serializers.Serializer):
    """`?left_at=` of removing a customer from a group."""

    left_at = serializers.DateTimeField(
        required=False, help_text="When the membership ends (default now; past or future)."
    )


class MembershipCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """Add a customer to a group by its id or by its external_id (exactly one)."""

    customer_id = StrictUUIDField(required=False, help_text="The customer's id.")
    customer_external_id = StrictCharField(
        required=False, max_length=255, validators=[no_control_characters], help_text="Or the customer's external_id."
    )
    joined_at = serializers.DateTimeField(
        required=False,
        help_text="When the membership starts (default now; past: backdated, future: scheduled). With it, any "
        "overlap with another membership of the customer in the group is 409 membership_overlap.",
    )

    def validate(self, attrs):
        given = [f for f in ("customer_id", "customer_external_id") if f in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"customer_id": ["Give exactly one of customer_id or customer_external_id."]}, code="required"
            )
        field = given[0]
        lookup = {"id": attrs[field]} if field == "customer_id" else {"external_id": attrs[field]}
        customer = Customer.objects.filter(**lookup).first()
        if customer is None:
            raise serializers.ValidationError(
                {
                    field: [
                        serializers.ErrorDetail(
                            f"No customer with {field.removeprefix('customer_') or 'id'} '{attrs[field]}'.",
                            code="unknown_customer",
                        )
                    ]
                }
            )
        attrs["customer"] = customer
        return attrs
