//! What a caller holding in the queue hears between the hold music: their
//! place in the queue and roughly how long the wait is (DESIGN.md section 3).

/// Prompt ids to play, in order. Numbers use the n0..n59 clips; a place past
/// 59 or a wait past an hour is said in words instead.
pub fn announcement(position: usize, wait_minutes: i64) -> Vec<String> {
    let mut ids = Vec::new();
    if (1..=59).contains(&position) {
        ids.push("queue_position".to_string());
        ids.push(format!("n{position}"));
        ids.push("in_queue".to_string());
    } else if position > 59 {
        ids.push("queue_many_ahead".to_string());
    }
    if wait_minutes >= 60 {
        ids.push("queue_wait_long".to_string());
    } else {
        // Rounded up to 5 minutes: "about 5" rather than a precise-sounding 3.
        let rounded = ((wait_minutes.max(1) + 4) / 5 * 5).min(55);
        ids.push("queue_wait".to_string());
        ids.push(format!("n{rounded}"));
        ids.push("minutes".to_string());
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_place_and_wait_rounded_up_to_five_minutes() {
        assert_eq!(
            announcement(3, 7),
            [
                "queue_position",
                "n3",
                "in_queue",
                "queue_wait",
                "n10",
                "minutes"
            ]
        );
        assert_eq!(announcement(1, 0)[4], "n5", "never 'about 0 minutes'");
    }

    #[test]
    fn long_queues_and_waits_are_said_in_words() {
        assert_eq!(
            announcement(75, 90),
            ["queue_many_ahead", "queue_wait_long"]
        );
        assert_eq!(announcement(0, 59)[1], "n55");
    }
}
