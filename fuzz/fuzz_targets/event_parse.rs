//! Fuzz target: any message body → `event::parse` returns (an event or a reason), never panics;
//! a parsed event names an instance id of EC2's form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        if let Ok(event) = cloud_unmap::model::event::parse(body) {
            if let Some(id) = event.instance_id() {
                assert!(cloud_unmap::model::domain::is_ec2_instance_id(id));
            }
        }
    }
});
