//! Golden tests for the seed's examples (seed 001, "Социальные сети") and the ranking rules,
//! run through `Book`: an in-memory stand-in that keeps the store's side of the contract in
//! docs/offers.md (buckets, effect keys, one take-back per original), so sequences of events
//! read as they will in the store.

use super::*;
use crate::cheque::{LineFilter, Quantity};
use crate::money::Rounding;
use proptest::prelude::*;
use std::collections::BTreeMap;

const CUSTOMER: CustomerId = CustomerId(7);
const LINKING: OfferId = OfferId(1);
const JOINING: OfferId = OfferId(2);
const LEAVING: OfferId = OfferId(3);
const ACTIVITY: OfferId = OfferId(4);
const LIKES: OfferId = OfferId(5);
const REPOST_REMOVED: OfferId = OfferId(6);

fn utc(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("a test's own timestamp")
        .timestamp_millis()
}

fn offer(id: OfferId, triggers: &[TriggerKind], actions: Vec<Action>) -> Offer {
    Offer {
        id,
        version: 1,
        name: format!("offer {id}"),
        effective_from: utc("2025-01-01T00:00:00Z"),
        effective_to: None,
        cumulative: true,
        priority: 0,
        weight: 0,
        triggers: triggers.to_vec(),
        conditions: Vec::new(),
        actions,
        limits: Vec::new(),
    }
}

fn fixed(points: i64) -> Action {
    Action::Accrue {
        points: Points::Fixed { points },
    }
}

fn social(kind: SocialKind) -> TriggerKind {
    TriggerKind::Social(kind)
}

/// The seed's social offers, as a program would set them up.
fn seed_offers() -> Vec<Offer> {
    let mut joining = offer(JOINING, &[social(SocialKind::GroupJoined)], vec![fixed(50)]);
    joining.conditions = vec![
        Condition::Network {
            any_of: vec![Network::Vk, Network::Odnoklassniki],
        },
        Condition::Group {
            any_of: vec!["club1".into()],
        },
    ];
    let mut likes = offer(
        LIKES,
        &[social(SocialKind::Like)],
        vec![Action::Accrue {
            points: Points::Tiered {
                first: vec![5],
                then: 1,
                period: Period::Month,
            },
        }],
    );
    likes.limits = vec![Limit {
        scope: LimitScope::Customer,
        period: Period::Month,
        cap: Cap::Points(15),
    }];
    vec![
        offer(
            LINKING,
            &[social(SocialKind::ProfileLinked)],
            vec![fixed(100)],
        ),
        joining,
        offer(
            LEAVING,
            &[social(SocialKind::GroupLeft)],
            vec![Action::TakeBack {
                offer: JOINING,
                action: 0,
            }],
        ),
        offer(
            ACTIVITY,
            &[
                social(SocialKind::Repost),
                social(SocialKind::Comment),
                social(SocialKind::Like),
            ],
            vec![fixed(10)],
        ),
        likes,
        offer(
            REPOST_REMOVED,
            &[social(SocialKind::RepostRemoved)],
            vec![Action::TakeBack {
                offer: ACTIVITY,
                action: 0,
            }],
        ),
    ]
}

fn customer(utc_offset_minutes: i32) -> Customer {
    Customer {
        id: CUSTOMER,
        utc_offset_minutes,
        ..Customer::default()
    }
}

fn vk(kind: SocialKind) -> Event {
    Event::Social(SocialEvent {
        network: Network::Vk,
        kind,
        group: (kind != SocialKind::ProfileLinked).then(|| "club1".to_string()),
    })
}

fn trigger(event_id: &str, at: &str, event: Event) -> Trigger {
    Trigger {
        event_id: event_id.into(),
        at: utc(at),
        event,
        undoes: Vec::new(),
    }
}

/// The store's side, in memory.
#[derive(Default)]
struct Book {
    buckets: BTreeMap<UsageKey, Used>,
    counters: BTreeMap<String, i64>,
    effects: BTreeMap<EffectKey, Effect>,
    taken_back: BTreeSet<EffectKey>,
    balance: i64,
}

impl Book {
    /// Locks the buckets, evaluates and writes: all or nothing, once per effect key.
    fn process(&mut self, offers: &[Offer], trigger: &Trigger, customer: &Customer) -> Evaluation {
        let keys = usage_keys(offers, trigger, customer, trigger.at).expect("valid trigger");
        let usage = Usage {
            counters: self.counters.clone(),
            buckets: keys
                .iter()
                .filter_map(|k| self.buckets.get(k).map(|u| (k.clone(), *u)))
                .collect(),
        };
        let evaluation = evaluate(offers, trigger, customer, &usage, trigger.at).expect("valid");
        for change in &evaluation.usage_changes {
            assert!(keys.contains(&change.key), "{change:?} was not locked");
        }
        let duplicate = evaluation
            .effects
            .iter()
            .any(|e| self.effects.contains_key(&e.key));
        let taken_twice = evaluation.effects.iter().any(|e| match &e.kind {
            EffectKind::TakeBack { original, .. } => self.taken_back.contains(original),
            _ => false,
        });
        if duplicate || taken_twice {
            return Evaluation::default();
        }
        for change in &evaluation.usage_changes {
            let used = self.buckets.entry(change.key.clone()).or_default();
            used.points += change.points;
            used.count += change.count;
        }
        for change in &evaluation.counter_changes {
            *self.counters.entry(change.counter.clone()).or_default() += change.by;
        }
        for effect in &evaluation.effects {
            match &effect.kind {
                EffectKind::Accrue { points, .. } => self.balance += points,
                EffectKind::Withdraw { points } => self.balance -= points,
                EffectKind::TakeBack { original, points } => {
                    self.taken_back.insert(original.clone());
                    self.balance -= points;
                }
                _ => {}
            }
            self.effects.insert(effect.key.clone(), effect.clone());
        }
        evaluation
    }

    /// What a removal undoes: the effects recorded for `event_id`.
    fn past(&self, event_id: &str) -> Vec<PastEffect> {
        self.effects
            .values()
            .filter(|e| e.key.event_id == event_id)
            .filter_map(|e| match &e.kind {
                EffectKind::Accrue { points, counted_in } => Some(PastEffect {
                    key: e.key.clone(),
                    points: *points,
                    taken_back: self.taken_back.contains(&e.key),
                    counted_in: counted_in.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    fn undo(&self, event_id: &str, undone: &str, at: &str, kind: SocialKind) -> Trigger {
        Trigger {
            undoes: self.past(undone),
            ..trigger(event_id, at, vk(kind))
        }
    }
}

fn accrued(evaluation: &Evaluation, offer: OfferId) -> i64 {
    evaluation
        .effects
        .iter()
        .filter(|e| e.key.offer == offer)
        .map(|e| match e.kind {
            EffectKind::Accrue { points, .. } => points,
            _ => 0,
        })
        .sum()
}

fn outcome(evaluation: &Evaluation, offer: OfferId) -> &Outcome {
    &evaluation
        .trace
        .iter()
        .find(|t| t.offer == offer)
        .expect("every offer is traced")
        .outcome
}

const APPLIED: Outcome = Outcome::Applied {
    cut_by_limit: None,
    lines_lost_to: None,
};

#[test]
fn linking_a_profile_gives_its_bonus_at_once() {
    let mut book = Book::default();
    let linked = book.process(
        &seed_offers(),
        &trigger(
            "link-1",
            "2026-01-10T12:00:00Z",
            vk(SocialKind::ProfileLinked),
        ),
        &customer(0),
    );
    assert_eq!(accrued(&linked, LINKING), 100);
    assert_eq!(outcome(&linked, LINKING), &APPLIED);
    assert_eq!(outcome(&linked, LIKES), &Outcome::OtherTrigger);
    assert_eq!(book.balance, 100);
}

#[test]
fn joining_the_group_gives_bonuses_and_leaving_takes_them_back_once() {
    let offers = seed_offers();
    let mut book = Book::default();
    let joined = book.process(
        &offers,
        &trigger(
            "join-1",
            "2026-01-10T12:00:00Z",
            vk(SocialKind::GroupJoined),
        ),
        &customer(0),
    );
    assert_eq!(accrued(&joined, JOINING), 50);

    let leave = book.undo(
        "leave-1",
        "join-1",
        "2026-01-11T12:00:00Z",
        SocialKind::GroupLeft,
    );
    let left = book.process(&offers, &leave, &customer(0));
    assert_eq!(
        left.effects,
        vec![Effect {
            key: EffectKey {
                event_id: "leave-1".into(),
                offer: LEAVING,
                action: 0,
                line: None,
            },
            version: 1,
            kind: EffectKind::TakeBack {
                original: joined.effects[0].key.clone(),
                points: 50,
            },
        }]
    );
    assert_eq!(book.balance, 0);

    // A second leave (a repeated webhook under another id) finds the join taken back.
    let again = book.undo(
        "leave-2",
        "join-1",
        "2026-01-11T12:05:00Z",
        SocialKind::GroupLeft,
    );
    let left_again = book.process(&offers, &again, &customer(0));
    assert!(left_again.effects.is_empty());
    assert_eq!(outcome(&left_again, LEAVING), &Outcome::NothingToApply);
    // A leave raced against the first, read before it was written, is refused by the
    // original's key.
    let raced = Trigger {
        event_id: "leave-3".into(),
        ..leave
    };
    let raced = book.process(&offers, &raced, &customer(0));
    assert!(raced.effects.is_empty());
    assert_eq!(book.balance, 0);
}

#[test]
fn joining_another_network_or_group_gives_nothing() {
    let offers = seed_offers();
    let instagram = Event::Social(SocialEvent {
        network: Network::Instagram,
        kind: SocialKind::GroupJoined,
        group: Some("club1".into()),
    });
    let other_group = Event::Social(SocialEvent {
        network: Network::Vk,
        kind: SocialKind::GroupJoined,
        group: Some("club2".into()),
    });
    let mut book = Book::default();
    let evaluation = book.process(
        &offers,
        &trigger("join-ig", "2026-01-10T12:00:00Z", instagram),
        &customer(0),
    );
    assert_eq!(
        outcome(&evaluation, JOINING),
        &Outcome::ConditionFalse { condition: 0 }
    );
    let evaluation = book.process(
        &offers,
        &trigger("join-2", "2026-01-10T12:00:00Z", other_group),
        &customer(0),
    );
    assert_eq!(
        outcome(&evaluation, JOINING),
        &Outcome::ConditionFalse { condition: 1 }
    );
    assert_eq!(book.balance, 0);
}

#[test]
fn reposts_comments_and_likes_give_bonuses() {
    let offers = seed_offers();
    let mut book = Book::default();
    for (id, kind) in [
        ("repost-1", SocialKind::Repost),
        ("comment-1", SocialKind::Comment),
        ("like-1", SocialKind::Like),
    ] {
        let evaluation = book.process(
            &offers,
            &trigger(id, "2026-01-10T12:00:00Z", vk(kind)),
            &customer(0),
        );
        assert_eq!(accrued(&evaluation, ACTIVITY), 10, "{kind:?}");
    }
    // 10 each, and the like's own 5 (the first like of the month).
    assert_eq!(book.balance, 35);
}

#[test]
fn five_for_the_first_like_one_for_each_next_at_most_fifteen_a_month() {
    let offers = vec![seed_offers().swap_remove(4)];
    let mut book = Book::default();
    let mut given = Vec::new();
    for n in 0..12 {
        let at = format!("2026-01-{:02}T12:00:00Z", n + 1);
        let evaluation = book.process(
            &offers,
            &trigger(&format!("like-{n}"), &at, vk(SocialKind::Like)),
            &customer(180),
        );
        given.push(accrued(&evaluation, LIKES));
        if n == 11 {
            assert_eq!(
                outcome(&evaluation, LIKES),
                &Outcome::LimitReached { limit: 0 }
            );
            assert!(evaluation.usage_changes.is_empty());
        }
    }
    assert_eq!(given, [5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    let january = UsageKey {
        owner: UsageOwner::CustomerOffer {
            customer: CUSTOMER,
            offer: LIKES,
        },
        bucket: PeriodBucket::Month {
            year: 2026,
            month: 1,
        },
    };
    assert_eq!(
        book.buckets[&january],
        Used {
            points: 15,
            count: 11
        }
    );
    assert_eq!(january.bucket.to_string(), "2026-01");
}

#[test]
fn the_monthly_limit_ends_at_the_customers_midnight() {
    let offers = vec![seed_offers().swap_remove(4)];
    for (offset, expected_month, expected) in [(180, 2, 5), (0, 1, 0)] {
        let mut book = Book::default();
        for n in 0..11 {
            let at = format!("2026-01-{:02}T12:00:00Z", n + 1);
            book.process(
                &offers,
                &trigger(&format!("like-{n}"), &at, vk(SocialKind::Like)),
                &customer(offset),
            );
        }
        // 01:30 on 1 February in UTC+3; still 31 January in UTC.
        let late = trigger("like-late", "2026-01-31T22:30:00Z", vk(SocialKind::Like));
        let evaluation = book.process(&offers, &late, &customer(offset));
        assert_eq!(accrued(&evaluation, LIKES), expected, "UTC{offset:+}");
        if expected > 0 {
            let key = &evaluation.usage_changes[0].key;
            assert_eq!(
                key.bucket,
                PeriodBucket::Month {
                    year: 2026,
                    month: expected_month
                }
            );
        }
    }
}

#[test]
fn removing_a_repost_takes_back_only_what_was_given_once() {
    let mut offers = seed_offers();
    // A cap that cuts the second repost to 5 of its 10.
    offers[3].limits = vec![Limit {
        scope: LimitScope::Customer,
        period: Period::Month,
        cap: Cap::Points(15),
    }];
    let mut book = Book::default();
    let at = "2026-01-10T12:00:00Z";
    book.process(
        &offers,
        &trigger("repost-1", at, vk(SocialKind::Repost)),
        &customer(0),
    );
    let second = book.process(
        &offers,
        &trigger("repost-2", at, vk(SocialKind::Repost)),
        &customer(0),
    );
    assert_eq!(accrued(&second, ACTIVITY), 5);
    assert_eq!(
        outcome(&second, ACTIVITY),
        &Outcome::Applied {
            cut_by_limit: Some(0),
            lines_lost_to: None
        }
    );

    let removal = book.undo("unrepost-2", "repost-2", at, SocialKind::RepostRemoved);
    let removed = book.process(&offers, &removal, &customer(0));
    assert!(matches!(
        removed.effects[..],
        [Effect {
            kind: EffectKind::TakeBack { points: 5, .. },
            ..
        }]
    ));
    assert_eq!(book.balance, 10);
    // The points return to the cap; the occurrence stays counted.
    let month = &removed.usage_changes[0];
    assert_eq!((month.points, month.count), (-5, 0));

    let again = book.undo("unrepost-2b", "repost-2", at, SocialKind::RepostRemoved);
    assert!(book
        .process(&offers, &again, &customer(0))
        .effects
        .is_empty());
    assert_eq!(book.balance, 10);
    let third = book.process(
        &offers,
        &trigger("repost-3", at, vk(SocialKind::Repost)),
        &customer(0),
    );
    assert_eq!(accrued(&third, ACTIVITY), 5);
}

#[test]
fn a_global_pool_is_shared_by_offers_and_a_count_cap_counts_applications() {
    let social_pool = |per_customer| Limit {
        scope: LimitScope::Global {
            pool: "social".into(),
            per_customer,
        },
        period: Period::Month,
        cap: Cap::Points(15),
    };
    let mut comments = offer(OfferId(80), &[social(SocialKind::Comment)], vec![fixed(10)]);
    comments.limits = vec![social_pool(true)];
    let mut reposts = offer(OfferId(81), &[social(SocialKind::Repost)], vec![fixed(10)]);
    reposts.limits = vec![
        Limit {
            scope: LimitScope::Offer,
            period: Period::AllTime,
            cap: Cap::Count(2),
        },
        social_pool(true),
    ];
    let offers = [comments, reposts];
    let at = "2026-01-10T12:00:00Z";
    let mut book = Book::default();
    let comment = book.process(
        &offers,
        &trigger("c1", at, vk(SocialKind::Comment)),
        &customer(0),
    );
    assert_eq!(accrued(&comment, OfferId(80)), 10);
    let repost = book.process(
        &offers,
        &trigger("r1", at, vk(SocialKind::Repost)),
        &customer(0),
    );
    assert_eq!(accrued(&repost, OfferId(81)), 5);
    assert_eq!(
        outcome(&repost, OfferId(81)),
        &Outcome::Applied {
            cut_by_limit: Some(1),
            lines_lost_to: None
        }
    );
    // Another customer has their own pool, but the offer's two applications are everyone's.
    let other = Customer {
        id: CustomerId(8),
        ..customer(0)
    };
    let repost = book.process(&offers, &trigger("r2", at, vk(SocialKind::Repost)), &other);
    assert_eq!(accrued(&repost, OfferId(81)), 10);
    let repost = book.process(&offers, &trigger("r3", at, vk(SocialKind::Repost)), &other);
    assert_eq!(
        outcome(&repost, OfferId(81)),
        &Outcome::LimitReached { limit: 0 }
    );
}

#[test]
fn a_duplicate_trigger_has_the_same_effect_keys_and_does_nothing() {
    let offers = seed_offers();
    let like = trigger("vk-event-42", "2026-01-10T12:00:00Z", vk(SocialKind::Like));
    let mut book = Book::default();
    let first = book.process(&offers, &like, &customer(0));
    let usage = Usage {
        counters: BTreeMap::new(),
        buckets: book.buckets.clone(),
    };
    let replayed = evaluate(&offers, &like, &customer(0), &usage, like.at).expect("valid");
    let keys = |e: &Evaluation| e.effects.iter().map(|e| e.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&replayed));
    assert_eq!(keys(&first).len(), 2);
    let balance = book.balance;
    assert!(book
        .process(&offers, &like, &customer(0))
        .effects
        .is_empty());
    assert_eq!(book.balance, balance);
}

fn line(position: i64, group: &str, amount: i64) -> crate::cheque::ChequeLine {
    crate::cheque::ChequeLine {
        position,
        goods_id: Some(format!("goods-{position}")),
        barcode: None,
        group: Some(group.into()),
        name: None,
        quantity: Quantity::one(),
        price: amount,
        till_discount: 0,
        amount,
    }
}

fn cheque(lines: Vec<crate::cheque::ChequeLine>) -> Event {
    Event::Cheque(ChequeFacts {
        lines,
        coupons: Vec::new(),
        paid_with_points: BTreeMap::new(),
        money_decimals: 2,
        points_decimals: 2,
    })
}

fn discount(id: OfferId, lines: LineFilter, bps: u32) -> Offer {
    Offer {
        cumulative: false,
        ..offer(
            id,
            &[TriggerKind::Cheque],
            vec![Action::LineDiscount {
                lines,
                discount: Discount::Percent {
                    bps,
                    rounding: Rounding::HalfUp,
                },
            }],
        )
    }
}

fn discounts(evaluation: &Evaluation) -> Vec<(OfferId, Option<i64>, i64)> {
    evaluation
        .effects
        .iter()
        .filter_map(|e| match e.kind {
            EffectKind::LineDiscount { amount } => Some((e.key.offer, e.key.line, amount)),
            _ => None,
        })
        .collect()
}

fn price(offers: &[Offer], event: Event, at: &str) -> Evaluation {
    let trigger = trigger("cheque-1", at, event);
    evaluate(
        offers,
        &trigger,
        &customer(0),
        &Usage::default(),
        trigger.at,
    )
    .expect("valid")
}

#[test]
fn a_tie_of_non_cumulative_offers_goes_to_the_better_then_to_the_lower_id() {
    let at = "2026-01-10T12:00:00Z";
    let lines = || cheque(vec![line(1, "milk", 10_000), line(2, "bread", 5_000)]);
    let ten = discount(OfferId(10), LineFilter::All, 1_000);
    let fifteen = discount(OfferId(11), LineFilter::All, 1_500);
    let evaluation = price(&[ten.clone(), fifteen.clone()], lines(), at);
    assert_eq!(
        discounts(&evaluation),
        [(OfferId(11), Some(1), 1_500), (OfferId(11), Some(2), 750)]
    );
    assert_eq!(
        outcome(&evaluation, OfferId(10)),
        &Outcome::OutrankedBy { offer: OfferId(11) }
    );

    let twin = discount(OfferId(9), LineFilter::All, 1_500);
    let evaluation = price(&[fifteen.clone(), twin], lines(), at);
    assert_eq!(
        outcome(&evaluation, OfferId(11)),
        &Outcome::OutrankedBy { offer: OfferId(9) }
    );

    // Priority, then weight, come before the benefit.
    let preferred = Offer {
        weight: 1,
        ..ten.clone()
    };
    let evaluation = price(&[preferred, fifteen.clone()], lines(), at);
    assert_eq!(outcome(&evaluation, OfferId(10)), &APPLIED);
    let urgent = Offer { priority: 1, ..ten };
    let evaluation = price(
        &[
            Offer {
                weight: 5,
                ..fifteen
            },
            urgent,
        ],
        lines(),
        at,
    );
    assert_eq!(outcome(&evaluation, OfferId(10)), &APPLIED);
}

#[test]
fn a_non_cumulative_offer_takes_only_the_lines_left_and_cumulative_ones_stack() {
    let milk = discount(OfferId(20), LineFilter::Group("milk".into()), 2_000);
    let everything = discount(OfferId(21), LineFilter::All, 1_000);
    let bonus = Offer {
        cumulative: true,
        ..offer(
            OfferId(22),
            &[TriggerKind::Cheque],
            vec![Action::Accrue {
                points: Points::PercentOfCheque {
                    bps: 500,
                    of: Base::Amount,
                    rounding: Rounding::Down,
                },
            }],
        )
    };
    let evaluation = price(
        &[milk, everything, bonus],
        cheque(vec![line(1, "milk", 10_000), line(2, "bread", 5_000)]),
        "2026-01-10T12:00:00Z",
    );
    // The milk offer gives more on the milk line, so it is ranked first and holds it.
    assert_eq!(
        discounts(&evaluation),
        [(OfferId(20), Some(1), 2_000), (OfferId(21), Some(2), 500)]
    );
    assert_eq!(
        outcome(&evaluation, OfferId(21)),
        &Outcome::Applied {
            cut_by_limit: None,
            lines_lost_to: Some(OfferId(20))
        }
    );
    // 5 % of what is left to pay: 8 000 + 4 500.
    assert_eq!(accrued(&evaluation, OfferId(22)), 625);
}

#[test]
fn a_line_is_never_discounted_below_zero() {
    let seventy = Offer {
        cumulative: true,
        ..discount(OfferId(30), LineFilter::All, 7_000)
    };
    let fixed_off = |id| Offer {
        cumulative: true,
        ..offer(
            id,
            &[TriggerKind::Cheque],
            vec![Action::LineDiscount {
                lines: LineFilter::All,
                discount: Discount::FixedPerLine { amount: 500 },
            }],
        )
    };
    let evaluation = price(
        &[seventy, fixed_off(OfferId(31)), fixed_off(OfferId(32))],
        cheque(vec![line(1, "milk", 1_000), line(2, "bread", 0)]),
        "2026-01-10T12:00:00Z",
    );
    assert_eq!(
        discounts(&evaluation),
        [(OfferId(30), Some(1), 700), (OfferId(31), Some(1), 300)]
    );
    assert_eq!(outcome(&evaluation, OfferId(32)), &Outcome::NothingToApply);

    // A fixed sum over several lines is spread by amount and stops at what they cost.
    let spread = Offer {
        cumulative: true,
        ..offer(
            OfferId(33),
            &[TriggerKind::Cheque],
            vec![Action::LineDiscount {
                lines: LineFilter::All,
                discount: Discount::Fixed { amount: 10_000 },
            }],
        )
    };
    let evaluation = price(
        &[spread],
        cheque(vec![line(1, "milk", 1_000), line(2, "bread", 500)]),
        "2026-01-10T12:00:00Z",
    );
    assert_eq!(
        discounts(&evaluation),
        [(OfferId(33), Some(1), 1_000), (OfferId(33), Some(2), 500)]
    );
}

/// The Loymax demo program's cheque rules (`cheque::tests::demo_rules`) as offers, ordered by
/// priority as `cheque::price` applies them: the program's discount, coupons, then the cap on
/// paying with points and the earn on money paid.
fn loymax_offers() -> Vec<Offer> {
    let cheque_offer = |id, priority, actions| Offer {
        priority,
        ..offer(OfferId(id), &[TriggerKind::Cheque], actions)
    };
    let ten_percent_off = || Action::LineDiscount {
        lines: LineFilter::All,
        discount: Discount::Percent {
            bps: 1_000,
            rounding: Rounding::HalfUp,
        },
    };
    let mut coupon = cheque_offer(91, 20, vec![ten_percent_off()]);
    coupon.conditions = vec![Condition::Coupon {
        code: "WELCOME10".into(),
    }];
    vec![
        cheque_offer(90, 30, vec![ten_percent_off()]),
        coupon,
        cheque_offer(
            92,
            10,
            vec![
                Action::PointsPaymentCap {
                    lines: LineFilter::All,
                    bps: 5_000,
                },
                Action::Accrue {
                    points: Points::PercentOfCheque {
                        bps: 1_000,
                        of: Base::PaidWithMoney,
                        rounding: Rounding::HalfUp,
                    },
                },
            ],
        ),
    ]
}

#[test]
fn loymax_cheque_rules_as_offers_keep_the_seed_vector() {
    use crate::cheque::tests::{demo_rules, seed_line};
    let offers = loymax_offers();
    let facts = |coupons: &[&str], paid: &[(i64, i64)]| {
        Event::Cheque(ChequeFacts {
            lines: vec![seed_line()],
            coupons: coupons.iter().map(|c| c.to_string()).collect(),
            paid_with_points: paid.iter().copied().collect(),
            money_decimals: 2,
            points_decimals: 2,
        })
    };
    let kinds = |evaluation: &Evaluation| {
        evaluation
            .effects
            .iter()
            .map(|e| (e.key.offer.0, e.kind.clone()))
            .collect::<Vec<_>>()
    };
    let calculated = price(&offers, facts(&[], &[]), "2026-01-10T12:00:00Z");
    let priced = crate::cheque::price(&[seed_line()], &demo_rules(), &[]).expect("seed");
    assert_eq!(priced.total_amount, 8_500 - 850);
    assert_eq!(
        kinds(&calculated),
        [
            (90, EffectKind::LineDiscount { amount: 850 }),
            (
                92,
                EffectKind::PointsPaymentCap {
                    amount: priced.bonus_cap
                }
            ),
            (
                92,
                EffectKind::Accrue {
                    points: 765,
                    counted_in: Vec::new()
                }
            ),
        ]
    );
    assert_eq!(
        outcome(&calculated, OfferId(91)),
        &Outcome::ConditionFalse { condition: 0 }
    );

    // Loymax's Bonus step: 36.50 paid with points, 10 % earned on the 40.00 paid with money.
    let accounted = price(&offers, facts(&[], &[(1, 3_650)]), "2026-01-10T12:00:00Z");
    assert_eq!(
        accrued(&accounted, OfferId(92)),
        crate::cheque::earn(&priced, &[3_650], &demo_rules())[0]
    );

    let with_coupon = price(&offers, facts(&["welcome10"], &[]), "2026-01-10T12:00:00Z");
    let priced =
        crate::cheque::price(&[seed_line()], &demo_rules(), &["welcome10".into()]).expect("seed");
    let discounted: i64 = discounts(&with_coupon).iter().map(|d| d.2).sum();
    assert_eq!(8_500 - discounted, priced.total_amount);
}

#[test]
fn a_cheque_uses_the_offers_in_force_at_its_own_time() {
    let first = Offer {
        effective_to: Some(utc("2026-02-01T00:00:00Z")),
        ..discount(OfferId(40), LineFilter::All, 1_000)
    };
    let second = Offer {
        version: 2,
        effective_from: utc("2026-03-01T00:00:00Z"),
        ..discount(OfferId(40), LineFilter::All, 2_000)
    };
    let offers = [first, second];
    let lines = || cheque(vec![line(1, "milk", 10_000)]);

    let january = price(&offers, lines(), "2026-01-31T23:59:59Z");
    assert_eq!(discounts(&january), [(OfferId(40), Some(1), 1_000)]);
    assert_eq!(january.effects[0].version, 1);

    let february = price(&offers, lines(), "2026-02-10T12:00:00Z");
    assert!(february.effects.is_empty());
    assert_eq!(
        february.trace,
        [TraceEntry {
            offer: OfferId(40),
            version: Some(1),
            outcome: Outcome::Ended {
                at: utc("2026-02-01T00:00:00Z")
            },
        }]
    );

    let march = price(&offers, lines(), "2026-03-01T00:00:00Z");
    assert_eq!(discounts(&march), [(OfferId(40), Some(1), 2_000)]);
    assert_eq!(march.effects[0].version, 2);

    let early = price(&offers, lines(), "2024-12-31T00:00:00Z");
    assert_eq!(
        outcome(&early, OfferId(40)),
        &Outcome::NotYetEffective {
            from: utc("2025-01-01T00:00:00Z")
        }
    );
}

#[test]
fn a_trigger_from_the_future_is_evaluated_now() {
    let offers = [Offer {
        effective_from: utc("2026-02-01T00:00:00Z"),
        ..offer(OfferId(50), &[TriggerKind::Registration], vec![fixed(300)])
    }];
    let registered = trigger("reg-1", "2026-02-01T00:00:00Z", Event::Registration);
    let now = utc("2026-01-31T23:00:00Z");
    let evaluation =
        evaluate(&offers, &registered, &customer(0), &Usage::default(), now).expect("valid");
    assert!(evaluation.effects.is_empty());
    let evaluation = evaluate(
        &offers,
        &registered,
        &customer(0),
        &Usage::default(),
        registered.at,
    )
    .expect("valid");
    assert_eq!(accrued(&evaluation, OfferId(50)), 300);
}

#[test]
fn non_cumulative_event_offers_give_one_per_event() {
    let big = Offer {
        cumulative: false,
        ..offer(OfferId(60), &[social(SocialKind::Comment)], vec![fixed(20)])
    };
    let small = Offer {
        cumulative: false,
        ..offer(OfferId(61), &[social(SocialKind::Comment)], vec![fixed(10)])
    };
    let mut book = Book::default();
    let evaluation = book.process(
        &[small, big],
        &trigger("comment-1", "2026-01-10T12:00:00Z", vk(SocialKind::Comment)),
        &customer(0),
    );
    assert_eq!(accrued(&evaluation, OfferId(60)), 20);
    assert_eq!(
        outcome(&evaluation, OfferId(61)),
        &Outcome::OutrankedBy { offer: OfferId(60) }
    );
}

#[test]
fn time_windows_counters_and_the_other_actions() {
    let mut evening = offer(
        OfferId(70),
        &[social(SocialKind::Comment)],
        vec![
            fixed(3),
            Action::Counter {
                name: "comments".into(),
                by: 1,
            },
            Action::Message {
                channel: Channel::Sms,
                template: "offer.thanks".into(),
            },
            Action::Subscription {
                channel: Channel::Email,
                on: true,
            },
        ],
    );
    // 18:00 to 02:00 local time, every day.
    evening.conditions = vec![Condition::TimeWindow {
        weekdays: vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ],
        from_minute: 18 * 60,
        to_minute: 2 * 60,
    }];
    let mut tenth = offer(
        OfferId(71),
        &[social(SocialKind::Comment)],
        vec![Action::IssueCoupon {
            series: "tenth-comment".into(),
        }],
    );
    tenth.conditions = vec![Condition::Counter {
        name: "comments".into(),
        at_least: Some(9),
        below: Some(10),
    }];
    let offers = [evening, tenth];
    let mut book = Book::default();
    // 22:30 UTC is 01:30 in UTC+3: inside; 12:00 UTC is 15:00: outside.
    for (n, at) in ["2026-01-10T22:30:00Z", "2026-01-10T12:00:00Z"]
        .into_iter()
        .cycle()
        .take(20)
        .enumerate()
    {
        let evaluation = book.process(
            &offers,
            &trigger(&format!("c{n}"), at, vk(SocialKind::Comment)),
            &customer(180),
        );
        let inside = n % 2 == 0;
        // The counter reads 9 from the ninth evening comment (n = 16) until the tenth (n = 18).
        let coupon = usize::from(n == 17 || n == 18);
        assert_eq!(
            evaluation.effects.len(),
            (if inside { 3 } else { 0 }) + coupon
        );
        if !inside {
            assert_eq!(
                outcome(&evaluation, OfferId(70)),
                &Outcome::ConditionFalse { condition: 0 }
            );
        }
    }
    assert_eq!(book.counters["comments"], 10);
    assert_eq!(book.balance, 30);
}

#[test]
fn offers_read_and_validate_as_the_admin_api_will_send_them() {
    let json = r#"{
        "id": 5, "version": 1, "name": "Лайки",
        "effective_from": 0,
        "cumulative": true,
        "triggers": [{"social": "like"}],
        "conditions": [{"type": "network", "any_of": ["vk", "odnoklassniki"]}],
        "actions": [{"type": "accrue", "points": {"by": "tiered", "first": [5], "then": 1, "period": "month"}}],
        "limits": [{"scope": {"type": "customer"}, "period": "month", "cap": {"points": 15}}]
    }"#;
    let read: Offer = serde_json::from_str(json).expect("the documented form");
    assert_eq!(read.limits[0].cap, Cap::Points(15));
    assert_eq!(read.validate(), Ok(()));
    for offer in seed_offers() {
        assert_eq!(offer.validate(), Ok(()));
    }

    let refused = |change: fn(&mut Offer)| {
        let mut offer = read.clone();
        change(&mut offer);
        offer.validate().is_err()
    };
    assert!(refused(|o| o.triggers.clear()));
    assert!(refused(|o| o.effective_to = Some(0)));
    assert!(refused(|o| o.actions = vec![fixed(0)]));
    assert!(refused(|o| o.limits[0].cap = Cap::Count(0)));
    assert!(refused(|o| o.actions = vec![Action::LineDiscount {
        lines: LineFilter::All,
        discount: Discount::Percent {
            bps: 10_001,
            rounding: Rounding::HalfUp
        },
    }]));
}

#[test]
fn bad_input_is_refused_not_panicked_on() {
    let offers = seed_offers();
    let like = trigger("like", "2026-01-10T12:00:00Z", vk(SocialKind::Like));
    assert!(evaluate(
        &offers,
        &like,
        &customer(24 * 60),
        &Usage::default(),
        like.at
    )
    .is_err());
    let far = Trigger {
        at: i64::MAX,
        ..like.clone()
    };
    assert!(evaluate(&offers, &far, &customer(0), &Usage::default(), i64::MAX).is_err());
    let doubled = cheque(vec![line(1, "milk", 100), line(1, "milk", 100)]);
    let cheque_trigger = trigger("cheque", "2026-01-10T12:00:00Z", doubled);
    assert!(evaluate(
        &offers,
        &cheque_trigger,
        &customer(0),
        &Usage::default(),
        cheque_trigger.at
    )
    .is_err());
}

proptest! {
    /// Whatever the tiers, caps and order of likes and their removals, no month's accruals
    /// (less what was taken back) exceed the cap, and the buckets say exactly that.
    #[test]
    fn accruals_never_exceed_a_limit(
        first in proptest::collection::vec(1i64..20, 0..4),
        then in 1i64..8,
        cap in 1i64..40,
        steps in proptest::collection::vec((0i64..90 * 24, any::<bool>()), 1..60),
        offset in -12 * 60i32..=14 * 60,
    ) {
        let mut offers = seed_offers();
        offers[4].actions = vec![Action::Accrue { points: Points::Tiered { first, then, period: Period::Month } }];
        offers[4].limits[0].cap = Cap::Points(cap);
        offers.push(offer(OfferId(8), &[social(SocialKind::LikeRemoved)], vec![Action::TakeBack { offer: LIKES, action: 0 }]));
        let customer = customer(offset);
        let start = utc("2026-01-01T00:00:00Z");
        let mut book = Book::default();
        let mut net: BTreeMap<PeriodBucket, i64> = BTreeMap::new();
        for (n, (hours, remove)) in steps.into_iter().enumerate() {
            let at = start + hours * 3_600_000;
            let like = Trigger { event_id: format!("like-{n}"), at, event: vk(SocialKind::Like), undoes: Vec::new() };
            let liked = book.process(&offers, &like, &customer);
            let month = Period::Month.bucket(&LocalTime::at(at, offset).expect("in range"));
            *net.entry(month).or_default() += accrued(&liked, LIKES);
            if remove {
                let removal = Trigger {
                    event_id: format!("unlike-{n}"),
                    at: at + 60_000,
                    event: vk(SocialKind::LikeRemoved),
                    undoes: book.past(&like.event_id),
                };
                let removed = book.process(&offers, &removal, &customer);
                for effect in &removed.effects {
                    if let EffectKind::TakeBack { original, points } = &effect.kind {
                        let EffectKind::Accrue { counted_in, .. } = &book.effects[original].kind else {
                            panic!("a take-back of an accrual");
                        };
                        if original.offer == LIKES {
                            *net.get_mut(&counted_in[0].bucket).expect("counted") -= points;
                        }
                    }
                }
            }
        }
        for (month, points) in &net {
            prop_assert!(*points <= cap, "{month}: {points} > {cap}");
            let key = UsageKey { owner: UsageOwner::CustomerOffer { customer: CUSTOMER, offer: LIKES }, bucket: *month };
            prop_assert_eq!(book.buckets.get(&key).map_or(0, |u| u.points), *points);
        }
    }
}

fn discount_offer_strategy() -> impl Strategy<Value = (bool, i32, Option<u8>, Discount)> {
    let size = prop_oneof![
        (1u32..=10_000).prop_map(|bps| Discount::Percent {
            bps,
            rounding: Rounding::HalfUp
        }),
        (1i64..200_000).prop_map(|amount| Discount::Fixed { amount }),
        (1i64..50_000).prop_map(|amount| Discount::FixedPerLine { amount }),
    ];
    (any::<bool>(), 0i32..3, proptest::option::of(0u8..3), size)
}

proptest! {
    /// However discounts are mixed, no line goes below zero and no line has two
    /// non-cumulative offers.
    #[test]
    fn lines_never_go_below_zero_nor_take_two_exclusive_offers(
        amounts in proptest::collection::vec((0u8..3, 0i64..100_000), 1..6),
        specs in proptest::collection::vec(discount_offer_strategy(), 1..8),
    ) {
        let lines: Vec<_> = (1i64..)
            .zip(&amounts)
            .map(|(position, (group, amount))| line(position, &format!("g{group}"), *amount))
            .collect();
        let offers: Vec<Offer> = (1i64..)
            .zip(specs)
            .map(|(id, (cumulative, priority, group, discount))| Offer {
                cumulative,
                priority,
                ..offer(
                    OfferId(id),
                    &[TriggerKind::Cheque],
                    vec![Action::LineDiscount {
                        lines: group.map_or(LineFilter::All, |g| LineFilter::Group(format!("g{g}"))),
                        discount,
                    }],
                )
            })
            .collect();
        let evaluation = price(&offers, cheque(lines.clone()), "2026-01-10T12:00:00Z");
        for line in &lines {
            let on_line: Vec<_> = discounts(&evaluation)
                .into_iter()
                .filter(|d| d.1 == Some(line.position))
                .collect();
            let total: i64 = on_line.iter().map(|d| d.2).sum();
            prop_assert!(total <= line.amount, "line {}: {total} > {}", line.position, line.amount);
            let exclusive: BTreeSet<OfferId> = on_line
                .iter()
                .map(|d| d.0)
                .filter(|id| !offers[(id.0 - 1) as usize].cumulative)
                .collect();
            prop_assert!(exclusive.len() <= 1, "line {}: {exclusive:?}", line.position);
        }
    }
}

/// A cheque priced with the program's rules read as offers, paid with `paid` points per line.
fn rules_pricing(
    rules: &crate::cheque::PurchaseRules,
    lines: &[crate::cheque::ChequeLine],
    coupons: &[String],
    paid: &[i64],
) -> (crate::cheque::PricedCheque, Vec<i64>) {
    let offers = rules_as_offers(rules);
    let (customer, usage) = (customer(0), Usage::default());
    let pricing = ChequeOffers {
        offers: &offers,
        customer: &customer,
        usage: &usage,
        event_id: "purchase-1",
        at: utc("2026-01-10T12:00:00Z"),
        now: utc("2026-01-10T12:00:00Z"),
        money_decimals: 2,
        points_decimals: 2,
    };
    let calculated = pricing
        .price(lines, coupons, BTreeMap::new())
        .expect("a valid cheque");
    let positions = lines.iter().map(|l| l.position);
    let accounted = pricing
        .price(
            lines,
            coupons,
            positions.zip(paid.iter().copied()).collect(),
        )
        .expect("a valid cheque");
    let earned = earned_per_line(&calculated.priced, &accounted.evaluation, paid);
    (calculated.priced, earned)
}

#[test]
fn each_loymax_rule_as_an_offer_prices_the_seed_vector_exactly() {
    use crate::cheque::tests::{demo_rules, seed_line};
    let rules = demo_rules();
    let (priced, earned) = rules_pricing(&rules, &[seed_line()], &[], &[3_650]);
    // The seed: price 100, the till's 15, the program's 10 %: 76.50, 38.25 payable, 4.00 earned.
    assert_eq!(
        priced,
        crate::cheque::price(&[seed_line()], &rules, &[]).expect("seed")
    );
    assert_eq!(
        (priced.total_amount, priced.total_discount, priced.bonus_cap),
        (7_650, 2_350, 3_825)
    );
    assert_eq!(priced.applied, ["Скидка программы 10%"]);
    assert_eq!(earned, [400]);
    // The coupon's discount on top, named after it.
    let coupon = ["welcome10".to_string()];
    let (priced, _) = rules_pricing(&rules, &[seed_line()], &coupon, &[0]);
    assert_eq!(priced.total_amount, 6_885);
    assert_eq!(priced.applied, ["Скидка программы 10%", "WELCOME10"]);
    // No rules: nothing off, all payable, nothing earned.
    let none = crate::cheque::PurchaseRules::default();
    let (priced, earned) = rules_pricing(&none, &[seed_line()], &[], &[8_500]);
    assert_eq!((priced.total_amount, priced.bonus_cap), (8_500, 8_500));
    assert!(priced.applied.is_empty());
    assert_eq!(earned, [0]);
}

proptest! {
    /// The rules read as offers price every cheque exactly as `cheque::price` did, and earn
    /// what `cheque::earn` did (coupons adding no rate of their own: with one, each offer
    /// rounds its own share — docs/offers.md).
    #[test]
    fn the_rules_as_offers_price_and_earn_as_the_rules_did(
        lines in proptest::collection::vec((0u8..3, 0i64..1_000_000, 0i64..50_000), 1..6),
        pct in 0u32..=10_000,
        fixed in 0i64..300_000,
        cap in 0u32..=10_000,
        earn_bps in 0u32..5_000,
        coupon in any::<bool>(),
        pay_share in 0u32..=10_000,
    ) {
        use crate::cheque::{CouponRule, DiscountRule, DiscountSize, PurchaseRules};
        let lines: Vec<_> = (1i64..)
            .zip(&lines)
            .map(|(position, (group, amount, till))| crate::cheque::ChequeLine {
                price: amount + till,
                till_discount: *till,
                ..line(position, &format!("g{group}"), *amount)
            })
            .collect();
        let rules = PurchaseRules {
            discounts: vec![
                DiscountRule { name: "p".into(), lines: LineFilter::Group("g1".into()), size: DiscountSize::Percent(pct) },
                DiscountRule { name: "f".into(), lines: LineFilter::All, size: DiscountSize::Fixed(fixed) },
            ],
            max_bonus_payment_bps: cap,
            earn_bps,
            coupons: vec![CouponRule {
                code: "C1".into(),
                discount: Some(DiscountRule { name: "C1".into(), lines: LineFilter::Group("g0".into()), size: DiscountSize::Percent(pct / 2) }),
                bonus_bps: 0,
            }],
            rounding: Rounding::HalfUp,
        };
        let coupons: Vec<String> = if coupon { vec!["c1".into()] } else { Vec::new() };
        let expected = crate::cheque::price(&lines, &rules, &coupons).expect("valid");
        let pay = (expected.bonus_cap as i128 * pay_share as i128 / 10_000) as i64;
        let paid = crate::cheque::distribute_payment(&expected, pay).expect("within the cap");
        let (priced, earned) = rules_pricing(&rules, &lines, &coupons, &paid);
        prop_assert_eq!(&priced.lines, &expected.lines);
        prop_assert_eq!(priced.total_amount, expected.total_amount);
        prop_assert_eq!(priced.bonus_cap, expected.bonus_cap);
        prop_assert_eq!(earned, crate::cheque::earn(&expected, &paid, &rules));
    }
}

#[test]
fn the_cheque_index_leaves_out_only_offers_that_cannot_apply() {
    let on = |id: i64, condition: Condition| Offer {
        conditions: vec![condition],
        ..discount(OfferId(id), LineFilter::All, 1_000)
    };
    let lines_of = |filter: LineFilter| Condition::Lines {
        lines: filter,
        min_quantity: Quantity::one(),
    };
    let mut offers = vec![
        on(1, lines_of(LineFilter::GoodsId("milk".into()))),
        on(2, lines_of(LineFilter::GoodsId("bread".into()))),
        on(3, lines_of(LineFilter::Group("g1".into()))),
        on(
            4,
            Condition::Coupon {
                code: "Spring".into(),
            },
        ),
        on(
            5,
            Condition::Coupon {
                code: "AUTUMN".into(),
            },
        ),
        discount(OfferId(6), LineFilter::All, 500),
    ];
    // A second version without a key of its own: the offer goes with every cheque.
    offers.push(Offer {
        version: 2,
        effective_from: utc("2026-02-01T00:00:00Z"),
        ..discount(OfferId(2), LineFilter::All, 300)
    });
    let index = ChequeOfferIndex::new(offers.clone());
    let mut sent = line(1, "g1", 10_000);
    sent.goods_id = Some("milk".into());
    let coupons = vec!["spring".to_string()];
    let picked = index.candidates(std::slice::from_ref(&sent), &coupons);
    let ids: BTreeSet<i64> = picked.iter().map(|o| o.id.0).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3, 4, 6]));
    let event = Event::Cheque(ChequeFacts {
        lines: vec![sent],
        coupons,
        paid_with_points: BTreeMap::new(),
        money_decimals: 2,
        points_decimals: 2,
    });
    let all = price(&offers, event.clone(), "2026-01-10T12:00:00Z");
    let indexed = price(&picked, event, "2026-01-10T12:00:00Z");
    assert_eq!(all.effects, indexed.effects);
}

#[test]
fn a_refund_returns_the_usage_it_took_back_and_the_application_once_wholly_refunded() {
    let key = UsageKey {
        owner: UsageOwner::CustomerOffer {
            customer: CustomerId(7),
            offer: OfferId(40),
        },
        bucket: PeriodBucket::Month {
            year: 2026,
            month: 2,
        },
    };
    let counted = vec![UsageChange {
        key: key.clone(),
        points: 85,
        count: 1,
    }];
    // A third of the bonus taken back: a third of the points, rounded down; the cheque still
    // counts as an application.
    let first = refund_usage(&counted, 120, 0, 40, false);
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].points, first[0].count), (-28, 0));
    // The rest, wholly refunded: the points left and the application.
    let rest = refund_usage(&counted, 120, 40, 120, true);
    assert_eq!((rest[0].points, rest[0].count), (-57, -1));
    assert_eq!(first[0].points + rest[0].points, -85);
    // Nothing taken back (the customer spent it) and not wholly refunded: nothing returns.
    assert!(refund_usage(&counted, 120, 40, 40, false).is_empty());
    // A cheque that earned nothing returns only its application.
    let none = refund_usage(&counted, 0, 0, 0, true);
    assert_eq!((none[0].points, none[0].count), (0, -1));
}
