// The journal protocol the supervisor speaks (docs/design.md#the-nine-rules, rules 4, 5, 9):
//
//   (append_atom, event)   fire and forget: start events and system decisions
//                          (rule 4: memory first, then disk, without waiting);
//   (persist_atom, event)  -> uint64_t seq once the event is durable (rule 5:
//                          the supervisor awaits it before applying a completion;
//                          it also persists a client command's event and the
//                          pipeline's creation, and answers the client on this);
//   (history_atom, std::string pipeline) -> std::vector<event>, the pipeline's
//                          events in seq order (rollback, time travel, audit);
//   (events_after_atom, uint64_t pos, uint64_t limit) -> std::vector<positioned_event>:
//                          committed events of every pipeline after
//                          journal-wide position `pos`, in order, at most `limit`
//                          (journal_store::events_after; GET /events).
//
// Appends from one supervisor arrive in its send order (CAF keeps FIFO per
// sender), so the journal sees each pipeline's events in seq order.
// `memory_journal` keeps events in memory; `durable_journal` makes them durable
// and speaks the same protocol, plus:
//
//   (journal_failed_atom, std::string why)  sent by the journal to whoever
//                          appended events that a failed write lost (the
//                          supervisor then refuses new starts);
//   (journal_stats_atom) -> std::vector<uint64_t>{commits, events};
//   (store_task_atom, std::shared_ptr<store_task>) -> bool, once the task ran on
//                          the store, after everything sent before it (the store is
//                          the journal thread's alone: POST /archive works on it so);
//   (summary_atom) -> std::vector<pipeline_summary>, every pipeline of the
//                          journal with its seq and times, once everything sent
//                          before it is durable (journal_store::pipelines: no
//                          fold; GET /pipelines);
//   (journal_metrics_atom) -> journal_metrics (GET /metrics, docs/http.md#metrics):
//                          events committed by type, the backlog, and the
//                          committer's histogram of commit durations;
//   (journal_sync_atom) -> uint64_t commits, once everything sent before it
//                          is durable (a clean shutdown waits for it);
//   (own_atom, std::string pipeline) -> uint64_t epoch: this server owns the
//                          pipeline now (a shared journal, docs/cluster.md);
//   (disown_atom, std::string pipeline) -> bool, once its events sent
//                          before are durable: it is let go (a clean hand-over);
//   (reopen_atom) -> uint32_t  0: it never failed; after a failed write,
//                          1 once the store takes writes again
//                          (journal_store::reopen: the caller hosts its
//                          pipelines again from their histories), 2 while it cannot.
//
// A shared journal may refuse a pipeline's events because another server
// owns it now (errc::fenced): the durable journal then answers that
// pipeline's persists with the error and tells whoever appended its events
// (journal_failed_atom, why); every other pipeline's events of the same
// commit are durable and answered as usual, and the journal goes on.
//
// Both journals also take subscribers (the server's live event stream):
//
//   (subscribe_atom, caf::actor who)  from then on `who` gets
//                          (committed_atom, uint64_t pos, std::vector<event>)
//                          after every commit, with the events of every
//                          pipeline in the order they were written, the first
//                          at journal-wide position `pos` and the others
//                          following on (pos + 1, ...); it is monitored and
//                          dropped when it ends. A subscriber that wants
//                          "each event once" subscribes, then asks for the
//                          history or the events after a position (same
//                          sender, so in that order), and skips seqs or
//                          positions it already has.
#pragma once

#include <array>
#include <chrono>

#include <caf/all.hpp>

#include "dairector/actors/messages.hpp"
#include "dairector/journal_store.hpp"

namespace dairector::actors {

using persist_atom = caf::atom_constant<caf::atom("dpersist")>;
using journal_failed_atom = caf::atom_constant<caf::atom("djfailed")>;
using journal_stats_atom = caf::atom_constant<caf::atom("djstats")>;
using journal_sync_atom = caf::atom_constant<caf::atom("djsync")>;
using subscribe_atom = caf::atom_constant<caf::atom("dsubscribe")>;
using committed_atom = caf::atom_constant<caf::atom("dcommitted")>;
using own_atom = caf::atom_constant<caf::atom("downer")>;
using disown_atom = caf::atom_constant<caf::atom("ddisown")>;
using reopen_atom = caf::atom_constant<caf::atom("dreopen")>;
using events_after_atom = caf::atom_constant<caf::atom("dafter")>;
using journal_metrics_atom = caf::atom_constant<caf::atom("djmetrics")>;
using store_task_atom = caf::atom_constant<caf::atom("dstoretask")>;
/// Work on the store, run by the journal's thread (store_task_atom).
using store_task = std::function<void(journal_store&)>;

/// The upper bounds (seconds) of the commit-duration histogram's buckets; a
/// last one, +Inf, is implied. From a fast disk's fsync to a database that
/// hangs (a write waits up to two leases, docs/cluster.md#faults).
inline constexpr std::array<double, 14> journal_commit_bounds_s{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1,    0.25,  0.5,    1,     2.5,  5,    10};

/// How long each store->append took, as the committer measured it.
struct commit_histogram {
  std::array<std::uint64_t, journal_commit_bounds_s.size() + 1> counts{};  // per bucket, not cumulative; last: +Inf
  double seconds_sum = 0;
  // The committer thread's CPU time in those appends (the rest of
  // seconds_sum it waited: for the disk, or for a core). Not in GET /metrics:
  // journal_bench reports it, to show how busy the one writer is.
  double cpu_seconds_sum = 0;
  std::uint64_t commits = 0;
};

/// What the durable journal reports for GET /metrics (local only).
struct journal_metrics {
  std::array<std::uint64_t, event_type_count> committed{};  // events made durable, by event_type
  std::uint64_t backlog_events = 0;  // accepted and not yet committed: queued and in flight
  commit_histogram commit;
};

/// An in-memory journal: acknowledges at once, keeps every event, up to
/// `events_max` in all; past that a persist fails (never acknowledged) and an
/// append is dropped, so memory stays bounded.
inline constexpr std::size_t memory_journal_events_max = 10'000'000;
caf::behavior memory_journal(caf::event_based_actor* self, std::size_t events_max);

/// The durable journal: an already opened store (so that the caller sees open
/// errors: a second owner, corruption) behind two actors. `durable_journal`
/// speaks the protocol above and forms the batches; `journal_committer` owns
/// the store and writes them, one transaction each. While batch N is being
/// written, batch N+1 forms, and it is handed over the moment N is answered.
/// `spawn_durable_journal` spawns the journal on the scheduler's threads (a
/// message between it and the supervisors runs on the thread that sent it:
/// no thread wakes up for it) and the committer on a thread of its own (it
/// blocks on fsync while the next batch forms), and gives the committer to
/// `committer_out` if asked (it owns the store: once it is gone, the journal
/// may be opened again); a test spawns them itself
/// (`durable_journal(self, committer)`) to step each.
///
/// Group commit: every append and persist queued when the journal hands a
/// batch over goes into one transaction (at most `journal_batch_events_max`
/// events), and each persist is answered after that commit. Appends alone
/// wait at most `journal_append_delay` for a persist to share a commit with.
/// A failed write is never acknowledged, and the journal takes no more writes
/// after it (memory may be ahead of disk); `dairector resume` carries on once
/// the fault is gone.
inline constexpr std::size_t journal_batch_events_max = 10'000;
/// How long appends alone (the supervisor's own starts and decisions, never
/// acknowledged) may wait to share a commit with a persist; a persist is
/// committed at once.
inline constexpr std::chrono::milliseconds journal_append_delay{2};
caf::behavior journal_committer(caf::event_based_actor* self, std::shared_ptr<journal_store> store);
caf::behavior durable_journal(caf::event_based_actor* self, caf::actor committer);
caf::actor spawn_durable_journal(caf::actor_system& sys, std::shared_ptr<journal_store> store,
                                 caf::actor* committer_out = nullptr);

}  // namespace dairector::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dairector::positioned_event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dairector::pipeline_summary>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<dairector::actors::store_task>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::commit_histogram)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::journal_metrics)
