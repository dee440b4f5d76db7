//! Contacts: complaints, inquiries, suggestions, praise and reports. So far
//! only the state machine (the rules); storage, pages and API come with the
//! complaints and work-orders issue.

pub mod state;
