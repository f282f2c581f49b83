#include "cli/http_support.hpp"

namespace dairector::cli::http {

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& sentence) {
  send_json(res, status, json{{"error", sentence}});
}

// The status follows from the code, by the core's one table (result.hpp).
void send_error(httplib::Response& res, const error& err) { send_error(res, http_status(err.code), err.message); }

std::optional<error> known(caf::scoped_actor& self, const http_api_config& cfg, const std::string& id) {
  auto yes = ask<bool>(self, cfg.director, errc::not_found, da::known_atom::value, id);
  if (!yes) return yes.err();
  return std::nullopt;
}

result<std::vector<event>> history_of(caf::scoped_actor& self, const http_api_config& cfg, const std::string& id) {
  if (!cfg.journal) return make_error(errc::journal, "this server keeps no journal");
  return ask<std::vector<event>>(self, cfg.journal, errc::journal, da::history_atom::value, id);
}

result<std::uint64_t> parse_seq(const std::string& text, const char* what, bool zero_ok) {
  std::uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 19 && text.find_first_not_of("0123456789") == std::string::npos;
  if (ok) value = std::stoull(text);
  if (!ok || (value == 0 && !zero_ok))
    return make_error(errc::decode_failed, std::string(what) + " must be " + (zero_ok ? "a seq (0 or more)" : "a seq (1 or more)") +
                                               ", not '" + text.substr(0, 40) + "'");
  return value;
}

}  // namespace dairector::cli::http
