"""Every table of the service, imported in one place so that Alembic and the tests see the whole schema."""

from controlplane.accounts import models as accounts_models
from controlplane.audit import models as audit_models
from controlplane.billing import models as billing_models
from controlplane.db import Base
from controlplane.deployments import models as deployments_models
from controlplane.idempotency import models as idempotency_models
from controlplane.notifications import models as notifications_models
from controlplane.privacy import models as privacy_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "billing_models",
    "deployments_models",
    "idempotency_models",
    "metadata",
    "notifications_models",
    "privacy_models",
]
