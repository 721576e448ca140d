//! EventBridge: the bus undo records go to (`--audit-event-bus`), one `Registration Removed` event
//! per removal.

use crate::error::{Error, Operation};
use crate::model::record::{Removal, DETAIL_TYPE, SOURCE};

/// The EventBridge bus audit records go to.
#[derive(Debug, Clone)]
pub struct AuditBus {
    pub client: aws_sdk_eventbridge::Client,
    /// A bus name or ARN.
    pub bus: String,
}

impl AuditBus {
    /// Puts one `Registration Removed` event on the bus.
    pub async fn publish(&self, record: &Removal) -> Result<(), Error> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(record.json())
            .event_bus_name(&self.bus)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| Error::aws(Operation::PutEvents, e))?;
        match out.entries().first().and_then(|e| e.error_code()) {
            None if out.failed_entry_count() == 0 => Ok(()),
            code => Err(Error::Refused {
                operation: Operation::PutEvents,
                reason: code.unwrap_or("no reason given").to_string(),
            }),
        }
    }
}
