//! Tenant-scoped query constructors. Every tenant-owned query starts from one of these, so that
//! the application filter and the row-level security policy behind it say the same thing; a
//! record of another tenant is "not found", never "forbidden".

use sea_orm::entity::prelude::*;
use sea_orm::{QueryFilter, Select};

use crate::ids::TenantId;
use crate::{event, knowledge, message, notification, session, tenant, usage, user};

/// An entity whose rows belong to exactly one tenant.
pub trait TenantScoped: EntityTrait {
    /// The column holding the owning tenant's id.
    fn tenant_column() -> Self::Column;

    /// All rows of `tenant`.
    fn find_in_tenant(tenant: TenantId) -> Select<Self> {
        Self::find().filter(Self::tenant_column().eq(tenant))
    }

    /// The row with this primary key, if it belongs to `tenant`.
    fn find_by_id_in_tenant<K>(tenant: TenantId, id: K) -> Select<Self>
    where
        K: Into<<Self::PrimaryKey as PrimaryKeyTrait>::ValueType>,
    {
        Self::find_by_id(id).filter(Self::tenant_column().eq(tenant))
    }
}

macro_rules! tenant_scoped {
    ($($module:ident => $column:ident),* $(,)?) => {
        $(
            impl TenantScoped for $module::Entity {
                fn tenant_column() -> Self::Column {
                    $module::Column::$column
                }
            }
        )*
    };
}

tenant_scoped!(
    tenant => Id,
    user => TenantId,
    session => TenantId,
    message => TenantId,
    notification => TenantId,
    knowledge => TenantId,
    event => TenantId,
    usage => TenantId,
);
