// What every journal backend shares (journal_store.hpp): the checks before a
// write and after a read, the row checksum, replay, and the parts of the
// interface built on the rest.
#include "dairector/journal_store.hpp"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>

#include "dairector/codec.hpp"
#include "dairector/invariants.hpp"
#include "dairector/reducer.hpp"

namespace dairector {

namespace {

constexpr std::size_t pipelines_swept_min = 1'024;  // append state kept before the first sweep

error journal_error(std::string message) { return make_error(errc::journal, std::move(message)); }

}  // namespace

std::string describe_gap(std::uint64_t from, std::uint64_t to, const std::string& why) {
  if (to == from) return "the event at pos " + std::to_string(from) + " is " + why;
  return "the events at pos " + std::to_string(from) + (to == 0 ? " and after" : " to " + std::to_string(to)) +
         " are " + why;
}

std::uint32_t row_crc(std::string_view pipeline, std::uint64_t seq, std::string_view type, std::int64_t at_ms,
                      std::string_view by, std::string_view body) {
  // The short columns are joined in a buffer first: three calls to crc32
  // instead of twelve (the checksum of the same bytes).
  char head[320];
  std::size_t n = 0;
  auto crc = static_cast<uLong>(crc32(0L, Z_NULL, 0));
  auto flush = [&] {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(head), static_cast<uInt>(n));
    n = 0;
  };
  auto add = [&](std::string_view part) {
    if (part.size() + 1 > sizeof head - n) {
      flush();
      crc = crc32(crc, reinterpret_cast<const Bytef*>(part.data()), static_cast<uInt>(part.size()));
    } else if (!part.empty()) {  // (an empty view may have no data: a NULL column read from a damaged file)
      std::memcpy(head + n, part.data(), part.size());
      n += part.size();
    }
    head[n++] = '\n';
  };
  auto add_number = [&](auto v) {
    char buf[24];
    add(std::string_view(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf)));
  };
  add(pipeline);
  add_number(seq);
  add(type);
  add_number(at_ms);
  add(by);
  add(body);
  flush();
  return static_cast<std::uint32_t>(crc);
}

// ------------------------------------------------------------ journal_store

error journal_store::damaged(journal_damage d, journal_damage* out) const {
  std::string message = "journal " + path_ + " is corrupt";
  if (!d.pipeline.empty()) message += ": pipeline '" + d.pipeline + "'";
  if (d.seq > 0) message += ", event seq " + std::to_string(d.seq);
  message += ": " + d.reason;
  if (out) *out = std::move(d);
  return journal_error(std::move(message));
}

error journal_store::failure(const std::string& what) const { return journal_error("journal " + path_ + ": " + what); }

std::optional<error> journal_store::injected_fault(std::size_t events) {
  // The seam counts events, not commits: how group commit happens to batch
  // must not decide whether (or where) a test's fault happens.
  if (opt_.fail_after_events == 0 || events_committed_ + events <= opt_.fail_after_events) return std::nullopt;
  failed_ = true;
  return failure("write failed: injected I/O fault (after " + std::to_string(events_committed_) + " events)");
}

result<system_state> journal_store::replayed(const std::string& pipeline, journal_damage* damage) {
  auto h = history(pipeline, damage);
  if (!h) return h.err();
  auto state = replay(*h);
  if (state || state.err().code != errc::journal) return state;
  // The first event that does not fold (the prefixes before it do); an
  // invariant broken only at the end is the last event's.
  std::uint64_t good = 0, bad = h->size();
  if (!fold(*h)) {
    while (bad - good > 1) {
      const std::uint64_t mid = good + (bad - good) / 2;
      (state_at(*h, mid) ? good : bad) = mid;
    }
  }
  return damaged(journal_damage{pipeline, bad, 0, 0, state.err().message}, damage);
}

result<std::vector<journal_damage>> journal_store::check() {
  auto out = gaps();
  if (!out) return out;
  auto all = pipelines();
  if (!all) return all.err();
  std::set<std::string> named;  // pipelines the gaps already name (a backend that can tell)
  for (const journal_damage& d : *out)
    if (!d.pipeline.empty()) named.insert(d.pipeline);
  for (const pipeline_summary& p : *all) {
    if (named.count(p.id)) continue;
    journal_damage d;
    auto state = replayed(p.id, &d);
    if (state) continue;
    if (d.pipeline.empty()) d = journal_damage{p.id, 0, 0, 0, state.err().message};
    out->push_back(std::move(d));
  }
  return out;
}

// ----------------------------------------------------------- append_checker

append_checker::pipeline_info& append_checker::info_of(std::string_view pipeline) {
  auto it = pipelines_.find(pipeline);
  if (it == pipelines_.end()) {
    it = pipelines_.emplace(std::string(pipeline), pipeline_info{}).first;
    it->second.id = &it->first;
  }
  return it->second;
}

void append_checker::let_go() {
  for (pipeline_info* p : touched_) p->held = p->created = nullptr;
  touched_.clear();
}

std::optional<error> append_checker::prepare(std::span<const event> events, source& src) {
  // Validate and encode the whole batch before anything is written. What the
  // batch would change (each pipeline's next seq, a spec it creates) is kept
  // aside under this batch's number, and taken on only when it is durable.
  let_go();
  const std::uint64_t batch = ++batches_;
  bodies_.clear();
  rows_.clear();
  std::vector<std::size_t> ends;
  ends.reserve(events.size());
  auto refuse = [&](std::string message) {
    let_go();
    rows_.clear();
    return journal_error(std::move(message));
  };
  pipeline_info* info = nullptr;  // the previous event's pipeline, often the next one's too
  for (const event& e : events) {
    if (!info || e.pipeline != *info->id) {
      if (e.pipeline.empty()) return refuse("an event without a pipeline id cannot be journaled");
      info = &info_of(e.pipeline);
      if (info->batch != batch) {
        if (!info->durable_known) {
          auto durable = src.durable_seq(e.pipeline);
          if (!durable) {
            let_go();
            return durable.err();
          }
          info->durable = *durable;
          info->durable_known = true;
        }
        info->batch = batch;
        info->next = info->durable + 1;
        info->held = info->spec.lock();
        info->created = nullptr;
        touched_.push_back(info);
      }
    }
    if (e.seq != info->next)
      return refuse("event seq " + std::to_string(e.seq) + " of pipeline '" + e.pipeline +
                    "' does not follow its durable seq " + std::to_string(info->next - 1));
    ++info->next;
    info->last_row = ends.size();
    const pipeline_spec* spec = info->held ? info->held.get() : info->created.get();
    if (e.type == event_type::pipeline_created) {
      if (!e.spec) return refuse("pipeline_created without a spec cannot be journaled");
      if (e.seq != 1)
        return refuse("pipeline_created of pipeline '" + e.pipeline + "' must be its seq 1, not seq " +
                      std::to_string(e.seq));
      info->created = e.spec;
    } else if (!spec) {
      auto sp = src.created_spec(e.pipeline);  // durable, not yet read
      if (!sp) {
        let_go();
        return sp.err();
      }
      info->held = *sp;
      info->spec = info->held;  // durable already: keep it whatever becomes of this batch
      spec = info->held.get();
    }
    const std::size_t from = bodies_.size();
    bodies_ += encode_event_text(e, spec);
    if (bodies_.size() - from > event_bytes_max)
      return refuse("event seq " + std::to_string(e.seq) + " of pipeline '" + e.pipeline + "' is " +
                    std::to_string(bodies_.size() - from) + " bytes, over the limit of " +
                    std::to_string(event_bytes_max));
    ends.push_back(bodies_.size());
  }
  // The bodies are views into bodies_, which no longer grows.
  rows_.reserve(events.size());
  std::size_t from = 0;
  for (std::size_t k = 0; k < events.size(); ++k) {
    const event& e = events[k];
    const char* type = to_string(e.type);
    const std::string_view body(bodies_.data() + from, ends[k] - from);
    from = ends[k];
    rows_.push_back(row{&e, type, body, row_crc(e.pipeline, e.seq, type, e.at_ms, e.by, body)});
  }
  return std::nullopt;
}

void append_checker::finish(bool durable,
                            const std::function<void(const std::string&, std::uint64_t, std::size_t)>& last_row) {
  if (durable) {
    for (pipeline_info* p : touched_) {
      p->durable = p->next - 1;
      if (p->created) p->spec = p->created;
      if (last_row) last_row(*p->id, p->durable, p->last_row);
    }
  }
  let_go();
  // A pipeline whose spec nobody holds any more (its host let it go) keeps no
  // append state: the next append to it asks the backend again. Swept when
  // the table doubles: amortised O(1).
  if (pipelines_.size() >= sweep_at_) {
    for (auto it = pipelines_.begin(); it != pipelines_.end();)
      it = it->second.batch != batches_ && it->second.spec.expired() ? pipelines_.erase(it) : std::next(it);
    sweep_at_ = std::max(pipelines_swept_min, 2 * pipelines_.size());
  }
}

void append_checker::remember_spec(const std::string& pipeline, const std::shared_ptr<const pipeline_spec>& spec) {
  info_of(pipeline).spec = spec;
}

void append_checker::forget(const std::string& pipeline) {
  if (auto it = pipelines_.find(pipeline); it != pipelines_.end()) pipelines_.erase(it);
}

// ---------------------------------------------------------- history_checker

namespace {

// A row's checksum, decode and columns: the event, or why not.
result<event> checked_row(std::string_view pipeline, std::uint64_t seq, std::string_view type, std::int64_t at_ms,
                          std::string_view by, std::string_view body, std::uint32_t crc, const pipeline_spec* spec) {
  if (crc != row_crc(pipeline, seq, type, at_ms, by, body)) return journal_error("checksum mismatch");
  auto e = decode_event_text(body, spec);
  if (!e) return e.err();
  if (e->seq != seq || e->pipeline != pipeline || type != to_string(e->type) || e->by != by || e->at_ms != at_ms)
    return journal_error("the row's columns disagree with its body");
  if (seq == 1 && e->type != event_type::pipeline_created)
    return journal_error("a pipeline must begin with pipeline_created");
  return e;
}

}  // namespace

std::optional<journal_damage> history_checker::add(std::uint64_t seq, std::string_view type, std::int64_t at_ms,
                                                   std::string_view by, std::string_view body, std::uint32_t crc) {
  auto corrupt = [&](std::string why) { return journal_damage{pipeline_, seq, 0, 0, std::move(why)}; };
  if (seq != events_.size() + 1)
    return corrupt("expected seq " + std::to_string(events_.size() + 1) + " (the pipeline's events have a gap)");
  auto e = checked_row(pipeline_, seq, type, at_ms, by, body, crc, spec_.get());
  if (!e) return corrupt(e.err().message);
  if (seq == 1) spec_ = e->spec;
  events_.push_back(std::move(*e));
  return std::nullopt;
}

// --------------------------------------------------------- archived_ranges

void archived_ranges::uncovered(std::uint64_t from, std::uint64_t to,
                                const std::function<void(std::uint64_t, std::uint64_t)>& missing) const {
  // The first range that ends at or after `from`, then each in turn.
  auto it = std::lower_bound(ranges.begin(), ranges.end(), from,
                             [](const range& r, std::uint64_t p) { return r.to < p; });
  std::uint64_t at = from;
  for (; at <= to && it != ranges.end() && it->from <= to; ++it) {
    if (it->from > at) missing(at, it->from - 1);
    at = std::max(at, it->to + 1);
  }
  if (at <= to) missing(at, to);
}

std::vector<archived_ranges::range> archived_ranges::of_positions(std::vector<std::uint64_t> positions) {
  std::sort(positions.begin(), positions.end());
  std::vector<range> out;
  for (std::uint64_t p : positions) {
    if (!out.empty() && out.back().to + 1 == p) out.back().to = p;
    else out.push_back({p, p});
  }
  return out;
}

// --------------------------------------------------------- position_checker

std::optional<journal_damage> position_checker::add(std::uint64_t pos, std::string_view pipeline, std::uint64_t seq,
                                                    std::string_view type, std::int64_t at_ms, std::string_view by,
                                                    std::string_view body, std::uint32_t crc) {
  if (pos > next_ && archived_) {
    bool whole = true;  // every position before this row was archived
    archived_->uncovered(next_, pos - 1, [&](std::uint64_t, std::uint64_t) { whole = false; });
    if (whole) next_ = pos;
  }
  if (pos != next_) {
    const std::uint64_t to = pos > next_ ? pos - 1 : next_;  // a row out of order: its own position is the hole
    return journal_damage{"", 0, next_, to, describe_gap(next_, to, "missing")};
  }
  const std::string id(pipeline);
  auto corrupt = [&](std::string why) { return journal_damage{id, seq, pos, pos, std::move(why)}; };
  std::shared_ptr<const pipeline_spec> spec;
  if (seq != 1) {
    auto known = specs_.find(pipeline);
    if (known == specs_.end()) {
      auto looked_up = spec_of_(id);
      if (!looked_up) {
        if (looked_up.err().code == errc::not_found) return corrupt("its pipeline has no pipeline_created");
        failed_ = looked_up.err();  // its own sentence: damage, or a read that failed
        return corrupt(looked_up.err().message);
      }
      known = specs_.emplace(id, std::move(*looked_up)).first;
    }
    spec = known->second;
  }
  auto e = checked_row(id, seq, type, at_ms, by, body, crc, spec.get());
  if (!e) return corrupt(e.err().message);
  if (seq == 1) spec = specs_[id] = e->spec;
  events_.push_back(positioned_event{pos, std::move(*e), std::move(spec)});
  ++next_;
  return std::nullopt;
}

// -------------------------------------------------------------------- replay

result<system_state> replay(std::span<const event> history, std::uint64_t upto_seq) {
  if (upto_seq != UINT64_MAX && upto_seq > history.size())
    return make_error(errc::not_found, "no event with seq " + std::to_string(upto_seq) + " (the history ends at " +
                                           std::to_string(history.size()) + ")");
  auto state = upto_seq >= history.size() ? fold(history) : state_at(history, upto_seq);
  if (!state) return journal_error("journal history does not replay: " + state.err().message);
  if (auto broken = check_invariants(*state); !broken.empty())
    return journal_error("journal history replays to a state that breaks an invariant at seq " +
                         std::to_string(state->seq()) + ": " + broken.front());
  return state;
}

}  // namespace dairector
