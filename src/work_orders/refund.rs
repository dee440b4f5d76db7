//! Refunds owed to customers whose accounts closed with money left over
//! (their prepaid credit and deposit beyond the final bill): the counter pays
//! them out in cash or by bank transfer, and the payout is recorded once.

use serde::Deserialize;

use crate::web::{error::FieldErrors, input::visible_text};

pub const CHANNELS: [&str; 2] = ["cash", "bank_transfer"];

/// The counter's payout form.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct PayoutDraft {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, PartialEq)]
pub struct ValidPayout {
    pub channel: String,
    pub reference: String,
}

/// A payout names its channel; a bank transfer also its reference (the
/// transfer's serial number), so it can be traced with the bank.
pub fn validate_payout(draft: &PayoutDraft) -> Result<ValidPayout, FieldErrors> {
    let mut errors = FieldErrors::default();
    let channel = draft.channel.trim();
    if channel.is_empty() {
        errors.add("channel", "required");
    } else if !CHANNELS.contains(&channel) {
        errors.add("channel", "unknown_code");
    }
    let reference = visible_text(&draft.reference, 100, "reference", false, &mut errors);
    if channel == "bank_transfer" && reference.is_empty() && !errors.has("reference") {
        errors.add("reference", "transfer_reference_required");
    }
    errors.finish(ValidPayout { channel: channel.to_owned(), reference })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(draft: PayoutDraft) -> Vec<(String, &'static str)> {
        validate_payout(&draft).unwrap_err().iter().map(|e| (e.field.clone(), e.code)).collect()
    }

    #[test]
    fn a_payout_names_its_channel_and_a_transfer_its_reference() {
        let cash = PayoutDraft { channel: " cash ".into(), reference: String::new() };
        assert_eq!(validate_payout(&cash).unwrap(), ValidPayout { channel: "cash".into(), reference: String::new() });
        assert_eq!(codes(PayoutDraft::default()), vec![("channel".into(), "required")]);
        assert_eq!(
            codes(PayoutDraft { channel: "cheque".into(), ..Default::default() }),
            vec![("channel".into(), "unknown_code")]
        );
        assert_eq!(
            codes(PayoutDraft { channel: "bank_transfer".into(), reference: "  ".into() }),
            vec![("reference".into(), "transfer_reference_required")]
        );
        let transfer = PayoutDraft { channel: "bank_transfer".into(), reference: "BOC20261203001".into() };
        assert_eq!(validate_payout(&transfer).unwrap().reference, "BOC20261203001");
    }
}
