#include "text/training_text.h"

#include "data/store.h"

namespace muchator {

void ForEachTrainingText(Store& store, const std::function<void(std::string_view)>& emit) {
  store.ForEachArtist([&](const Artist& a) { emit(a.name); });
  store.ForEachSong([&](const Song& s) {
    std::string t = s.title + " - " + s.album;
    for (const auto& g : s.genres) t += " " + g;
    for (const auto& g : s.tags) t += " " + g;
    emit(t);
    if (!s.lyrics.empty()) emit(s.lyrics);
  });
  store.ForEachUser([&](const User& u) {
    for (const auto& [k, v] : u.profile) emit(k + ": " + v);
  });
  store.ForEachDocument([&](const Document& d) { emit(d.text); });
  store.ForEachComment([&](const Comment& c) { emit(c.text); });
  store.ForEachPlaylist([&](const Playlist& p) { emit(p.title + " " + p.description); });
  // Test-split requests are what the system is measured on: their text never shapes the
  // vocabulary (a platform's tokenizer has not seen tomorrow's requests either).
  store.ForEachQuery([&](const Query& q) {
    if (q.split != "test") emit(q.text);
  });
}

}  // namespace muchator
