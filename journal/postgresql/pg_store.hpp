// The PostgreSQL journal store (journal/include/dairector/journal/postgresql.hpp),
// split by what it does: pg_store.cpp opens it (schema, version) and keeps
// ownership and meta; pg_append.cpp writes batches with fencing;
// pg_read.cpp reads histories, pipelines and gaps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dairector/journal/postgresql.hpp"
#include "pg_connection.hpp"

namespace dairector {

class pg_journal_store final : public journal_store, private append_checker::source {
public:
  static result<std::unique_ptr<journal_store>> open(const std::string& uri, journal_options opt);

  std::optional<error> append(std::span<const event> events) override;
  result<std::vector<event>> history(const std::string& pipeline, journal_damage* damage = nullptr) override;
  result<std::vector<positioned_event>> events_after(std::uint64_t after, std::size_t limit) override;
  result<std::vector<journal_damage>> gaps() override;
  result<std::vector<pipeline_summary>> pipelines() override;
  std::optional<error> put_meta(const std::string& key, const std::string& value) override;
  result<std::optional<std::string>> get_meta(const std::string& key) override;
  result<std::uint64_t> own(const std::string& pipeline) override;
  std::optional<error> disown(const std::string& pipeline) override;
  std::optional<error> reopen() override;
  std::vector<std::string> take_fenced() override;

private:
  struct pos_gap {
    std::uint64_t from = 0, to = 0;  // to: 0 = to the end
  };
  using epoch_map = std::unordered_map<std::string, std::uint64_t, string_hash, std::equal_to<>>;
  struct refusal {
    std::string pipeline;
    std::string owner;  // who owns it now, as the message says it: "node-b at epoch 2"
  };

  pg_journal_store(const std::string& uri, journal_options opt, std::vector<std::string> settings);
  std::optional<error> create_schema();

  // append_checker::source
  result<std::uint64_t> durable_seq(const std::string& pipeline) override;
  result<std::shared_ptr<const pipeline_spec>> created_spec(const std::string& pipeline) override;

  /// One transaction writing the checker's prepared rows. The pipelines whose
  /// events another store owns now go to `refused` (nothing is written then).
  std::optional<std::string> write_prepared(std::vector<refusal>& refused);
  std::optional<pg::answer> check_owners(const std::vector<std::string>& ids, const std::vector<bool>& created,
                                        std::vector<refusal>& refused);

  /// The gaps in the journal-wide order, counted once (the writers leave
  /// none: only damage from outside makes one); gaps() counts afresh.
  result<const std::vector<pos_gap>*> known_gaps();
  result<std::vector<pos_gap>> scan_gaps();
  const pos_gap* gap_after(std::uint64_t pos) const;
  /// An error of a read that failed (connection lost, server gone).
  error unreadable(const std::string& why) const;

  pg::connection db_;
  append_checker checker_;
  epoch_map epochs_;                 // the pipelines this store owns, at the epoch it holds
  std::vector<std::string> fenced_;  // for take_fenced
  std::optional<std::vector<pos_gap>> gaps_;
};

}  // namespace dairector
