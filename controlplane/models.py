"""Every table of the service, imported in one place so that Alembic and the tests see the whole schema."""

from controlplane.accounts import models as accounts_models
from controlplane.api import idempotency
from controlplane.billing import models as billing_models
from controlplane.db import Base
from controlplane.deployments import models as deployments_models
from controlplane.notifications import models as notifications_models
from controlplane.privacy import models as privacy_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "billing_models",
    "deployments_models",
    "idempotency",
    "metadata",
    "notifications_models",
    "privacy_models",
]
