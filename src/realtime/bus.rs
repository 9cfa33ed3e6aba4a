//! Carries room notices to every instance. `Local` hands them straight to this process's
//! rooms; several instances on one Postgres database share them through `LISTEN/NOTIFY`.

use super::{Hub, Notice};

#[derive(Clone, Debug, Default)]
pub enum Bus {
    /// One instance: notices stay in this process.
    #[default]
    Local,
}

impl Bus {
    pub(super) fn publish(&self, hub: &Hub, event_id: &str, notice: Notice) {
        match self {
            Bus::Local => hub.deliver_local(event_id, notice),
        }
    }

    /// Whether other instances hear this one.
    pub fn is_shared(&self) -> bool {
        !matches!(self, Bus::Local)
    }
}
