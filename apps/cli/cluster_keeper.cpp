#include "cli/cluster_keeper.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "cli/journal_args.hpp"
#include "dairector/actors/director.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/plan.hpp"

namespace dairector::cli {

namespace {

constexpr std::size_t orphans_scanned_max = 10'000;  // per round
constexpr std::int64_t tick_ms_max = 500;
constexpr std::int64_t tick_ms_min = 20;
constexpr std::size_t said_max = 1'000;  // distinct failures logged; more are not (a retry says the same)

}  // namespace

cluster_keeper::cluster_keeper(caf::actor_system& sys, std::unique_ptr<cluster_membership> membership,
                               std::unique_ptr<journal_store> reader, keeper_config cfg)
    : self_(sys), membership_(std::move(membership)), reader_(std::move(reader)), cfg_(std::move(cfg)) {}

std::int64_t cluster_keeper::tick_ms() const noexcept {
  return std::clamp(cfg_.lease_ms / 10, tick_ms_min, tick_ms_max);
}

std::optional<error> cluster_keeper::start(const std::function<bool()>& stop_requested) {
  const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.lease_ms + 1000);
  bool said = false;
  for (;;) {
    auto joined = membership_->join();
    if (!joined) return joined.err();
    if (*joined) break;
    if (std::chrono::steady_clock::now() >= give_up_at || stop_requested())
      return make_error(errc::refused, "node name '" + membership_->node() +
                                           "' is held by a live server (choose another with --node)");
    if (!said) cfg_.say("node name '" + membership_->node() + "' is still held by an earlier server; waiting " +
                        "for its lease to run out");
    said = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(tick_ms()));
  }
  cfg_.say("joined the cluster as node '" + membership_->node() + "' (lease " + std::to_string(cfg_.lease_ms) +
           " ms)");
  // The pipelines its name owns: an earlier process of this node's (killed,
  // or stopped before it could let them go) left them to it.
  auto mine = membership_->owned();
  if (!mine) return mine.err();
  for (const std::string& id : *mine) adopt(id);
  tick();
  return std::nullopt;
}

std::vector<std::string> cluster_keeper::hosted() {
  std::vector<std::string> ids;
  self_->request(cfg_.director, caf::infinite, actors::list_atom::value)
      .receive([&](std::vector<std::string>& all) { ids = std::move(all); }, [](caf::error&) {});
  return ids;
}

void cluster_keeper::give_up(const std::vector<std::string>& ids, const std::string& why) {
  for (const std::string& id : ids) self_->send(cfg_.director, actors::release_atom::value, id);
  if (ids.empty()) return;
  std::string list;
  for (std::size_t k = 0; k < ids.size() && k < 5; ++k) list += (k ? ", " : "") + ids[k];
  if (ids.size() > 5) list += ", ...";
  cfg_.say(why + ": stopped " + std::to_string(ids.size()) + " pipeline" + (ids.size() == 1 ? "" : "s") +
           " here (" + list + ")");
}

// Takes a pipeline over: a new epoch first (from then on no append of an
// earlier owner lands), then its history, read after that, so that
// everything the earlier owner wrote is in it; then it is hosted as
// recovery hosts it (rule 8: runs that were in flight are recorded
// interrupted and started again with fresh run ids).
bool cluster_keeper::adopt(const std::string& id) {
  std::optional<std::uint64_t> epoch;
  std::string refused;
  self_->request(cfg_.journal, caf::infinite, actors::own_atom::value, id)
      .receive([&](std::uint64_t e) { epoch = e; }, [&](caf::error& err) { refused = actors::describe(err); });
  if (!epoch) return false;  // another server was quicker, or the database failed: the next round sees
  // Owned from here on: if it cannot be hosted now, it is tried again with
  // the rest of what this node owns, next round.
  struct retry_unless_hosted {
    bool& retry;
    bool hosted = false;
    ~retry_unless_hosted() {
      if (!hosted) retry = true;
    }
  } retry{adopt_mine_};
  journal_damage damage;
  auto state = reader_->replayed(id, &damage);
  auto workdir = reader_->get_meta(workdir_key(id));
  const std::string folder = workdir && *workdir ? **workdir : cfg_.workdir;
  std::optional<actors::reply> answer;
  auto ask = [&](auto&&... request) {
    self_->request(cfg_.director, caf::infinite, std::forward<decltype(request)>(request)...)
        .receive([&](actors::reply& r) { answer = std::move(r); }, [&](caf::error&) {});
  };
  if (!state) {
    if (state.err().code != errc::journal || damage.pipeline.empty()) {
      say_once("cannot take over pipeline '" + id + "': " + state.err().message);
      return false;
    }
    ask(actors::damaged_atom::value, id, std::string(), std::uint64_t{0}, damage.seq, damage.reason);
    retry.hosted = true;
    cfg_.say("took over pipeline '" + id + "' (epoch " + std::to_string(*epoch) + "); it is damaged: " +
             damage.reason);
    return true;
  }
  const std::uint64_t seq = state->seq();
  if (actors::may_rest(*state))
    ask(actors::recover_atom::value, id, state->spec().name(), seq, folder,
        static_cast<std::uint8_t>(outcome(*state)));
  else
    ask(actors::recover_atom::value, std::move(*state), folder);
  if (!answer || !answer->is_ok()) {
    say_once("cannot host pipeline '" + id + "' taken over: " + (answer ? answer->message : "no answer"));
    return false;
  }
  retry.hosted = true;
  cfg_.say("took over pipeline '" + id + "' at seq " + std::to_string(seq) + " (epoch " + std::to_string(*epoch) +
           ")");
  return true;
}

void cluster_keeper::say_once(const std::string& line) {
  if (said_.size() >= said_max || !said_.insert(line).second) return;
  cfg_.say(line);
}

void cluster_keeper::tick() {
  // The journal failed a write (the database went away mid-commit): what
  // this server holds in memory may be ahead of the database, so it gives
  // everything up, and once the database takes writes again it hosts what it
  // still owns from the histories, as after a restart.
  std::uint32_t journal = 0;
  self_->request(cfg_.journal, caf::infinite, actors::reopen_atom::value)
      .receive([&](std::uint32_t j) { journal = j; }, [&](caf::error&) { journal = 2; });
  if (journal != 0 && !journal_down_) {
    give_up(hosted(), "the journal failed a write");
    journal_down_ = true;
  }
  if (journal == 2) return;
  if (journal == 1) {
    journal_down_ = false;
    adopt_mine_ = true;
    cfg_.say("the journal takes writes again: hosting its pipelines from their histories");
  }
  auto renewed = membership_->renew();
  if (!renewed) {
    // The database is away: nothing can be appended either (starts stop);
    // the lease may run out meanwhile, which the next answer will say.
    if (!database_down_) cfg_.say(renewed.err().message + "; retrying");
    database_down_ = true;
    return;
  }
  if (database_down_) cfg_.say("the cluster database answers again");
  database_down_ = false;
  if (!*renewed) {
    // Paused, cut off or too slow for longer than the lease: the others may
    // have taken its pipelines (and fencing refuses its appends to them).
    give_up(hosted(), "lost its lease (silent for longer than " + std::to_string(cfg_.lease_ms) + " ms)");
    auto joined = membership_->join();
    if (!joined || !*joined) return;  // the next round tries again
    cfg_.say("joined the cluster again as node '" + membership_->node() + "'");
    adopt_mine_ = true;
  }
  if (adopt_mine_) {
    // What fails (the database's first answers after it came back may still
    // be errors of the connections it closed) is tried again next round.
    auto mine = membership_->owned();
    if (!mine) return;
    adopt_mine_ = false;
    const std::vector<std::string> here = hosted();  // sorted
    for (const std::string& id : *mine)
      if (!std::binary_search(here.begin(), here.end(), id)) adopt(id);
  }
  // What another server owns now: given up here.
  const std::vector<std::string> here = hosted();
  auto lost = membership_->taken(here);
  if (!lost) return;
  give_up(*lost, "another server owns them now");
  // Its share of the orphans: of those it sees, as many as it would host if
  // every live server took as many.
  auto orphans = membership_->orphans(orphans_scanned_max);
  auto live = membership_->live_nodes();
  if (orphans && live && !orphans->empty()) {
    const std::size_t servers = std::max<std::size_t>(1, *live);
    std::size_t share = (orphans->size() + servers - 1) / servers;
    const std::size_t hosting = here.size() - lost->size();
    if (cfg_.max_pipelines > 0)
      share = std::min(share, cfg_.max_pipelines > hosting ? cfg_.max_pipelines - hosting : std::size_t{0});
    for (std::size_t k = 0; k < orphans->size() && share > 0; ++k)
      if (adopt((*orphans)[k])) --share;
  }
  if (auto nodes = membership_->nodes()) {
    nlohmann::json view = nlohmann::json::array();
    for (const cluster_node& n : *nodes)
      view.push_back({{"node", n.name},
                      {"http", n.http},
                      {"live", n.live},
                      {"pipelines", n.pipelines},
                      {"lease_until_ms", n.lease_until_ms},
                      {"self", n.name == membership_->node()}});
    std::lock_guard<std::mutex> lock(view_mutex_);
    view_ = std::move(view);
  }
}

void cluster_keeper::leave() {
  if (auto err = membership_->leave()) cfg_.say("cannot leave the cluster cleanly: " + err->message);
  else cfg_.say("left the cluster: its pipelines are the others' now");
}

nlohmann::json cluster_keeper::view() const {
  std::lock_guard<std::mutex> lock(view_mutex_);
  return view_;
}

}  // namespace dairector::cli
