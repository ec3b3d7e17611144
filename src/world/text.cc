#include "world/text.h"

#include <algorithm>
#include <cctype>

namespace muchator::world {

namespace {
using V = std::vector<std::string>;

const V kFirst = {"Lena",  "Marco", "Yuki",  "Aiden", "Sofia", "Chen",  "Amara", "Luca",
                  "Mina",  "Diego", "Ines",  "Kai",   "Noor",  "Felix", "Hana",  "Omar",
                  "Clara", "Jin",   "Rosa",  "Theo",  "Priya", "Elias", "Maya",  "Tomas",
                  "Zara",  "Ren",   "Lucia", "Hugo",  "Ada",   "Seo"};
const V kLast = {"Vance",    "Okoro", "Lindqvist", "Moreau",   "Tanaka",   "Reyes",
                 "Kowalski", "Han",   "Bell",      "Castillo", "Nakamura", "Fischer",
                 "Duarte",   "Park",  "Laurent",   "Quinn",    "Sato",     "Weber",
                 "Alvarez",  "Novak", "Li",        "Costa",    "Ivers",    "Marsh"};
const V kBandNoun = {"Tides",  "Lanterns", "Satellites", "Foxes",   "Echoes",   "Harbors",
                     "Comets", "Wolves",   "Parades",    "Mirrors", "Orchards", "Signals",
                     "Pilots", "Ravens",   "Glaciers",   "Embers"};
const V kBandAdj = {"Velvet", "Paper", "Electric", "Silver",   "Hollow",   "Golden", "Neon",
                    "Quiet",  "Wild",  "Crystal",  "Northern", "Midnight", "Copper", "Scarlet"};
const V kTitleAdj = {"Paper",   "Neon",     "Silver",   "Broken",   "Golden",  "Hidden", "Burning",
                     "Falling", "Distant",  "Electric", "Velvet",   "Crimson", "Hollow", "Endless",
                     "Secret",  "Restless", "Fading",   "Shining",  "Wild",    "Lost",   "Quiet",
                     "Glass",   "Summer",   "Winter",   "Wandering"};
const V kTitleNoun = {"Harbor", "Moon",    "Letters", "Heart",    "City",    "Garden", "Highway",
                      "River",  "Skyline", "Shadows", "Lights",   "Horizon", "Echo",   "Flame",
                      "Window", "Island",  "Compass", "Feathers", "Streets", "Waves",  "Mountain",
                      "Signal", "Ribbon",  "Orbit",   "Lantern"};
const V kAlbumWord = {"Chapters",    "Postcards", "Atlas",   "Blueprints",
                      "Seasons",     "Archive",   "Stories", "Reflections",
                      "Frequencies", "Landmarks", "Diaries", "Sketches"};
const V kCountries = {"Veloria", "Norland", "Castavia", "Oristan",  "Pellmark",
                      "Sundra",  "Quorin",  "Maravel",  "Eskaland", "Toravia"};
// Imagery for lyrics: generic, concept-free words (the concept itself enters via meta forms).
const V kImages = {"streetlights",  "old photographs", "paper planes",   "open windows",
                   "silver rings",  "empty stations",  "city lights",    "wild flowers",
                   "quiet rooms",   "burning candles", "northern skies", "wooden floors",
                   "painted walls", "falling leaves"};
const V kVerbs = {"holding on", "letting go", "waiting", "running",
                  "dancing",    "dreaming",   "singing", "turning"};

std::string Cap(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}
const std::string& PickForm(Rng& r, const V& forms) { return forms[r.Below(forms.size())]; }
std::string GenreMeta(Rng& r, const ConceptSet& c, int g) { return PickForm(r, c.genres[g].meta); }
std::string MoodMeta(Rng& r, const ConceptSet& c, int m) { return PickForm(r, c.moods[m].meta); }
std::string SitMeta(Rng& r, const ConceptSet& c, int s) {
  return PickForm(r, c.situations[s].meta);
}
// "a" or "an" before a word (by its first letter: good enough for the concept forms used here).
// The synthetic world keeps its "a" everywhere: its files stay byte-identical to earlier versions
// (the tiny-world training tests are calibrated on them).
std::string A(const std::string& word, bool synthetic = false) {
  const char c =
      word.empty() ? 'x' : static_cast<char>(std::tolower(static_cast<unsigned char>(word[0])));
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return std::string(vowel && !synthetic ? "an " : "a ") + word;
}
bool Real(const WorldModel& w) { return w.concepts->catalog != "synthetic"; }
std::string EnergyWord(double energy) {
  return energy > 0.7 ? "high-tempo" : energy < 0.3 ? "slow-tempo" : "mid-tempo";
}
std::string Fill(std::string t, const std::string& key, const std::string& value) {
  for (size_t p; (p = t.find(key)) != std::string::npos;) t.replace(p, key.size(), value);
  return t;
}
}  // namespace

std::string ArtistName(Rng& r) {
  if (r.Bernoulli(0.6)) return r.Pick(kFirst) + " " + r.Pick(kLast);
  return "The " + r.Pick(kBandAdj) + " " + r.Pick(kBandNoun);
}
std::string SongTitle(Rng& r) {
  switch (r.Below(3)) {
    case 0:
      return r.Pick(kTitleAdj) + " " + r.Pick(kTitleNoun);
    case 1: {
      const std::string& noun = r.Pick(kTitleNoun);
      return r.Pick(kTitleNoun) + " of " + (noun.back() == 's' ? noun : noun + "s");
    }
    default:
      return "The " + r.Pick(kTitleAdj) + " " + r.Pick(kTitleNoun);
  }
}
std::string AlbumTitle(Rng& r) { return r.Pick(kTitleAdj) + " " + r.Pick(kAlbumWord); }
std::string Country(Rng& r) { return r.Pick(kCountries); }

std::string Lyrics(Rng& r, const ConceptSet& c, const SongLatent& s) {
  static const V kLines = {"I feel so {mood} tonight", "{sit} is all I think about",
                           "{image} and {image2}",     "we keep {verb} through the {image}",
                           "a {mood} heart in {sit}",  "oh, {verb}, {verb2}",
                           "take me back to {image}",  "every {sit} I remember you"};
  std::string out;
  const int lines = 4 + static_cast<int>(r.Below(5));
  for (int i = 0; i < lines; ++i) {
    std::string l = r.Pick(kLines);
    l = Fill(l, "{mood}", MoodMeta(r, c, s.moods[r.Below(s.moods.size())]));
    l = Fill(l, "{sit}", SitMeta(r, c, s.situations[r.Below(s.situations.size())]));
    l = Fill(l, "{image2}", r.Pick(kImages));
    l = Fill(l, "{image}", r.Pick(kImages));
    l = Fill(l, "{verb2}", r.Pick(kVerbs));
    l = Fill(l, "{verb}", r.Pick(kVerbs));
    out += Cap(l) + (i + 1 < lines ? "\n" : "");
  }
  return out;
}

std::string LyricDescription(Rng& r, const WorldModel& w, const SongLatent& s) {
  const ConceptSet& c = *w.concepts;
  if (Real(w)) {
    // A description written from the song's real tags (most Jamendo tracks are instrumental, so
    // it speaks of the music, not of lyrics); the tempo word follows the simulated energy.
    std::string t = "\"" + s.title + "\" is ";
    t += s.moods.empty() ? A(EnergyWord(s.energy))
                         : A(MoodMeta(r, c, s.moods[0])) + ", " + EnergyWord(s.energy);
    t += " " + (s.genres.empty() ? "" : GenreMeta(r, c, s.genres[0]) + " ") + "track by " +
         w.artists[s.artist].name + ".";
    if (s.genres.size() > 1) t += " It blends in " + GenreMeta(r, c, s.genres[1]) + ".";
    if (!s.situations.empty()) {
      t += " It is tagged for " + SitMeta(r, c, s.situations[0]);
      if (s.situations.size() > 1) t += " and " + SitMeta(r, c, s.situations[1]);
      t += ".";
    }
    if (s.moods.size() > 1) t += " The feeling is " + MoodMeta(r, c, s.moods.back()) + ".";
    return t;
  }
  std::string t = "\"" + s.title + "\" is " + A(MoodMeta(r, c, s.moods[0]), true) + ", " +
                  EnergyWord(s.energy) + " " + GenreMeta(r, c, s.genres[0]) + " song by " +
                  w.artists[s.artist].name + ". ";
  t += "Its lyrics are about " + SitMeta(r, c, s.situations[0]);
  if (s.situations.size() > 1) t += " and " + SitMeta(r, c, s.situations[1]);
  t += ", with a " + MoodMeta(r, c, s.moods.back()) + " feeling throughout.";
  return t;
}

std::string SongBackground(Rng& r, const WorldModel& w, const SongLatent& s) {
  const ConceptSet& c = *w.concepts;
  const ArtistLatent& a = w.artists[s.artist];
  std::string t = "\"" + s.title + "\" is a song by " + a.name;
  if (s.year > 0) t += ", released in " + std::to_string(s.year);
  if (!s.album.empty()) t += " on the album " + s.album;
  t += ". ";
  if (s.original >= 0)
    t += "It is a " + std::string(kVersionSuffix[static_cast<int>(s.version)]).substr(2) +
         " of \"" + w.songs[s.original].title + "\". ";
  if (!s.genres.empty()) {
    t += "Critics file it under " + GenreMeta(r, c, s.genres[0]);
    if (s.genres.size() > 1) t += " with touches of " + GenreMeta(r, c, s.genres[1]);
  } else {
    t += "It resists a genre label";
  }
  if (!s.situations.empty())
    t += ", and it is often associated with " + SitMeta(r, c, s.situations[0]);
  return t + ".";
}

std::string ArtistBio(Rng& r, const WorldModel& w, int artist, const std::vector<int>& songs) {
  const ConceptSet& c = *w.concepts;
  const ArtistLatent& a = w.artists[artist];
  std::string t = a.name + " is " + A(GenreMeta(r, c, a.genre), !Real(w)) + " act";
  // A real catalog without countries, start years or languages gets none invented.
  if (!a.country.empty()) t += " from " + a.country;
  if (a.start_year > 0) t += ", active since " + std::to_string(a.start_year);
  if (c.languages.size() > 1) t += ", singing mostly in " + c.languages[a.language].name;
  t += ". ";
  if (!songs.empty()) {
    t += "Their best-known songs include ";
    for (size_t i = 0; i < std::min<size_t>(3, songs.size()); ++i)
      t += (i ? ", " : "") + std::string("\"") + w.songs[songs[i]].title + "\"";
    t += ". ";
    const SongLatent& s = w.songs[songs[0]];
    if (!s.moods.empty() && !s.situations.empty())
      t += "Their music is described as " + MoodMeta(r, c, s.moods[0]) +
           " and is a favourite for " + SitMeta(r, c, s.situations[0]) + ".";
    else if (!s.moods.empty())
      t += "Their music is described as " + MoodMeta(r, c, s.moods[0]) + ".";
    else if (!s.situations.empty())
      t += "Their music is a favourite for " + SitMeta(r, c, s.situations[0]) + ".";
  }
  return t;
}

std::string UserComment(Rng& r, const ConceptSet& c, const SongLatent& s, bool positive) {
  static const V kPos = {"{msoc} vibes, perfect for {ssoc}",
                         "my go-to for {ssoc}",
                         "{ssoc} on repeat with this one",
                         "so {msoc}, added it to my {ssoc} list",
                         "this is pure {msoc}",
                         "{ssoc} forever, love it"};
  static const V kNeg = {"not {msoc} at all, skip", "tried it for {ssoc}, did not work for me",
                         "too much for {ssoc}", "meh, not my thing"};
  // Real-catalog songs may lack a mood or a situation tag: comments then speak of what is known.
  static const V kPosMood = {"{msoc} vibes, love it", "this is pure {msoc}",
                             "so {msoc}, on repeat"};
  static const V kNegMood = {"not {msoc} at all, skip", "meh, not my thing"};
  static const V kPosSit = {"my go-to for {ssoc}", "{ssoc} on repeat with this one",
                            "{ssoc} forever, love it"};
  static const V kNegSit = {"tried it for {ssoc}, did not work for me", "too much for {ssoc}",
                            "meh, not my thing"};
  if (s.situations.empty() || s.moods.empty()) {
    if (s.situations.empty() && s.moods.empty())
      return positive ? "love this one" : "meh, not my thing";
    const bool mood_only = s.situations.empty();
    std::string t =
        mood_only ? r.Pick(positive ? kPosMood : kNegMood) : r.Pick(positive ? kPosSit : kNegSit);
    if (mood_only)
      return Fill(t, "{msoc}", PickForm(r, c.moods[s.moods[r.Below(s.moods.size())]].social));
    return Fill(t, "{ssoc}",
                PickForm(r, c.situations[s.situations[r.Below(s.situations.size())]].social));
  }
  const auto& sit = c.situations[s.situations[r.Below(s.situations.size())]];
  const auto& mood = c.moods[s.moods[r.Below(s.moods.size())]];
  std::string t = positive ? r.Pick(kPos) : r.Pick(kNeg);
  t = Fill(t, "{msoc}", PickForm(r, mood.social));
  t = Fill(t, "{ssoc}", PickForm(r, sit.social));
  return t;
}

std::string ProfessionalReview(Rng& r, const WorldModel& w, const SongLatent& s) {
  const ConceptSet& c = *w.concepts;
  std::string t = w.artists[s.artist].name + " deliver ";
  const std::string genre = s.genres.empty() ? std::string("genre-defying") : "";
  if (!s.moods.empty())
    t += A(MoodMeta(r, c, s.moods[0]), !Real(w)) + " " +
         (genre.empty() ? GenreMeta(r, c, s.genres[0]) : genre);
  else
    t += A(genre.empty() ? GenreMeta(r, c, s.genres[0]) : genre, !Real(w));
  t += " track. ";
  t += s.quality > 0.5    ? "The production is immaculate and the hooks land. "
       : s.quality < -0.5 ? "Sadly the songwriting feels thin. "
                          : "Solid, if not spectacular. ";
  if (!s.moods.empty() && !s.situations.empty())
    t += "Listeners call it " + PickForm(r, c.moods[s.moods.back()].social) + " and ideal for " +
         PickForm(r, c.situations[s.situations[0]].social) + ".";
  else if (!s.moods.empty())
    t += "Listeners call it " + PickForm(r, c.moods[s.moods.back()].social) + ".";
  else if (!s.situations.empty())
    t += "Listeners call it ideal for " + PickForm(r, c.situations[s.situations[0]].social) + ".";
  return t;
}

std::string PlaylistTitle(Rng& r, const ConceptSet& c, int situation, int mood, int genre) {
  std::string t = PickForm(r, c.situations[situation].social);
  if (mood >= 0 && r.Bernoulli(0.5)) t = PickForm(r, c.moods[mood].social) + " " + t;
  if (genre >= 0) t += " (" + PickForm(r, c.genres[genre].social) + ")";
  return t;
}

std::string QueryText(Rng& r, const ConceptSet& c, const QueryFacets& q, bool test_forms,
                      double social_share) {
  auto form = [&](const Concept& x) {
    if (r.Bernoulli(social_share)) return PickForm(r, x.social);
    return PickForm(r, test_forms ? x.query_test : x.query_train);
  };
  std::string sit = q.situation >= 0 ? form(c.situations[q.situation]) : "";
  std::string mood = q.mood >= 0 ? form(c.moods[q.mood]) : "";
  std::string genre = q.genre >= 0 ? form(c.genres[q.genre]) : "";
  std::string t;
  if (!sit.empty()) {
    // "soundtrack" is a genre of the real Jamendo catalog, so its worlds say "playlist" there
    // (the synthetic world keeps its wording and its bytes).
    static const V kSit = {
        "{s}, play me something", "music for {s} please", "{s} - got any songs?",  "what fits {s}",
        "need a soundtrack: {s}", "songs for {s}",        "{s}. hit me with tunes"};
    t = Fill(r.Pick(kSit), "{s}", sit);
    if (c.catalog != "synthetic") t = Fill(t, "need a soundtrack:", "need a playlist:");
    if (!mood.empty()) t += r.Bernoulli(0.5) ? ", make it " + mood : ", something " + mood;
    if (!genre.empty()) t += ", preferably " + genre;
  } else if (!mood.empty()) {
    t = "i want " + mood + (genre.empty() ? " music" : " " + genre);
  } else {
    t = "play some " + genre;
  }
  if (q.language >= 0) {
    const std::string& name = c.languages[q.language].name;
    std::string low = name;
    std::transform(low.begin(), low.end(), low.begin(), ::tolower);
    t += q.exclude_language ? ", no " + low + " songs" : ", only " + low + " songs";
  }
  if (q.era >= 0) t += ", from " + PickForm(r, c.eras[q.era].query);
  return t;
}

std::string WordPadded(const std::string& text) {
  std::string out = " ";
  for (unsigned char c : text) {
    if (c < 0x80 && !std::isalnum(c)) {
      if (out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
    }
  }
  if (out.back() != ' ') out.push_back(' ');
  return out;
}

std::function<bool(const std::string&)> QueryFormMatcher(const ConceptSet& concepts,
                                                         bool train_forms) {
  std::vector<std::string> forms;
  for (const auto* list : {&concepts.genres, &concepts.moods, &concepts.situations})
    for (const auto& c : *list) {
      if (train_forms)
        for (const auto& x : c.query_train) forms.push_back(WordPadded(x));
      for (const auto& x : c.query_test) forms.push_back(WordPadded(x));
    }
  return [forms = std::move(forms)](const std::string& text) {
    const std::string t = WordPadded(text);
    return std::any_of(forms.begin(), forms.end(),
                       [&](const std::string& f) { return t.find(f) != std::string::npos; });
  };
}

void GeneralKnowledge(uint64_t seed, int entities, std::vector<GeneralEntry>* entries,
                      std::vector<Mcq>* mcqs) {
  // A fictional encyclopedia of places, none of which exist, so a model can only know these facts
  // from this corpus: forgetting during music pre-training shows up as lost accuracy.
  static const V kSyll = {"ka",  "lo", "mi", "ra",  "ven", "tor", "sil",
                          "dan", "el", "zu", "qua", "ber", "nis", "ope"};
  static const V kExports = {"copper", "tea",    "salt", "glassware", "silk",
                             "timber", "olives", "wool", "amber",     "rice"};
  static const V kAnimals = {"heron", "lynx",     "otter", "falcon",
                             "ibex",  "tortoise", "crane", "marten"};
  Rng r = Rng::Derive(seed, "general");
  auto name = [&](int parts) {
    std::string s;
    for (int i = 0; i < parts; ++i) s += r.Pick(kSyll);
    return Cap(s);
  };
  struct Place {
    std::string name, capital, river, exported, animal;
    int founded;
  };
  std::vector<Place> places;
  for (int i = 0; i < entities; ++i) {
    Place p{name(3) + "ia",   name(2) + "ton",  "the " + name(2) + " river",
            r.Pick(kExports), r.Pick(kAnimals), static_cast<int>(r.Range(800, 1900))};
    places.push_back(p);
    entries->push_back({"g" + std::to_string(i + 1), p.name,
                        p.name + " is a small country whose capital is " + p.capital +
                            ". It was founded in " + std::to_string(p.founded) + " along " +
                            p.river + ". Its main export is " + p.exported +
                            ", and its national animal is the " + p.animal + "."});
  }
  for (int i = 0; i < entities; ++i) {
    const Place& p = places[i];
    auto ask = [&](const std::string& q, const std::string& right, auto other) {
      std::vector<std::string> opts = {right};
      for (int tries = 0; tries < 50 && opts.size() < 4; ++tries) {
        std::string o = other(places[r.Below(places.size())]);
        if (std::find(opts.begin(), opts.end(), o) == opts.end()) opts.push_back(o);
      }
      r.Shuffle(opts);
      const int answer =
          static_cast<int>(std::find(opts.begin(), opts.end(), right) - opts.begin());
      mcqs->push_back({"gq" + std::to_string(mcqs->size() + 1), q, opts, answer,
                       "g" + std::to_string(i + 1), "general"});
    };
    ask("What is the capital of " + p.name + "?", p.capital,
        [](const Place& x) { return x.capital; });
    ask("In which year was " + p.name + " founded?", std::to_string(p.founded),
        [](const Place& x) { return std::to_string(x.founded); });
  }
}

namespace {
// Every surface form of a concept, the meta forms first (the ones the music texts use).
V AllForms(const Concept& c) {
  V all = c.meta;
  for (const V* g : {&c.social, &c.query_train, &c.query_test})
    all.insert(all.end(), g->begin(), g->end());
  return all;
}
}  // namespace

void EverydayLanguage(uint64_t seed, const ConceptSet& c, int per_form,
                      std::vector<GeneralEntry>* entries, std::vector<Mcq>* mcqs) {
  // Sentences of the kind a base model reads on the web: two forms of one concept said to mean the
  // same, or used in the same everyday frame. Nothing here names a song, an artist or an album.
  // Templates per concept kind; {a} and {b} are two forms of the same concept.
  static const V kPair = {"{a}, or as my friend would put it, {b}.",
                          "when someone says {a}, they usually mean {b}.",
                          "{a} is just another way of saying {b}.",
                          "people use {a} and {b} for the same thing.",
                          "she wrote \"{a}\" in her diary; her brother would have written \"{b}\".",
                          "if you hear {a}, think {b}.",
                          "{b}, which some people call {a}."};
  static const V kSituation = {"tonight is all about {a}.", "my whole evening was {a}.",
                               "the neighbours said it was time for {a}.",
                               "i told my mother it was {a} again."};
  static const V kMood = {"she felt {a} all afternoon.", "the room was {a} after the news.",
                          "that letter left him {a}.", "everyone at dinner seemed {a}."};
  static const V kGenre = {"my uncle talks about {a} at every family dinner.",
                           "the shop downstairs always has {a} on.",
                           "our neighbour plays {a} every sunday."};
  static const V kEra = {"{a} means the same as {b}.", "back in {a}, or {b} if you like.",
                         "my grandparents still talk about {a}, which they call {b}."};
  struct Group {
    const std::vector<Concept>* list;
    const V* frames;
  };
  const std::vector<Group> groups = {
      {&c.situations, &kSituation}, {&c.moods, &kMood}, {&c.genres, &kGenre}};
  Rng r = Rng::Derive(seed, "everyday_language");
  std::vector<std::string> sentences;
  for (const auto& g : groups)
    for (const Concept& cc : *g.list) {
      const V all = AllForms(cc);
      if (all.size() < 2) continue;
      for (size_t i = 0; i < all.size(); ++i)
        for (int k = 0; k < per_form; ++k) {
          // Half the partners are meta forms: the forms the songs' own texts use.
          std::string b;
          do {
            b = r.Bernoulli(0.5) && !cc.meta.empty() ? r.Pick(cc.meta) : r.Pick(all);
          } while (b == all[i]);
          const bool pair = r.Bernoulli(0.7);
          std::string t = pair ? r.Pick(kPair) : r.Pick(*g.frames);
          t = Fill(Fill(t, "{a}", all[i]), "{b}", b);
          if (!pair) t += " " + Fill(Fill(r.Pick(kPair), "{a}", all[i]), "{b}", b);
          sentences.push_back(Cap(t));
        }
    }
  for (const Era& e : c.eras) {
    V all = e.meta;
    all.insert(all.end(), e.query.begin(), e.query.end());
    for (size_t i = 0; i < all.size(); ++i)
      for (int k = 0; k < per_form; ++k) {
        std::string b;
        do b = r.Pick(all);
        while (b == all[i] && all.size() > 1);
        sentences.push_back(Cap(Fill(Fill(r.Pick(kEra), "{a}", all[i]), "{b}", b)));
      }
  }
  r.Shuffle(sentences);
  constexpr size_t kPerDoc = 8;
  for (size_t at = 0; at < sentences.size(); at += kPerDoc) {
    std::string text;
    for (size_t k = at; k < std::min(sentences.size(), at + kPerDoc); ++k)
      text += (text.empty() ? "" : " ") + sentences[k];
    entries->push_back({"lang" + std::to_string(at / kPerDoc + 1), "", text});
  }
  // Multiple choice: a non-meta form -> the meta form of its concept among others of its kind.
  for (const auto& g : groups) {
    const auto& list = *g.list;
    if (list.size() < 4) continue;
    for (size_t ci = 0; ci < list.size(); ++ci) {
      const Concept& cc = list[ci];
      if (cc.meta.empty()) continue;
      for (const V* forms : {&cc.social, &cc.query_train, &cc.query_test})
        for (const auto& f : *forms) {
          V opts = {cc.meta[0]};
          for (int tries = 0; tries < 100 && opts.size() < 4; ++tries) {
            const Concept& other = list[r.Below(list.size())];
            if (!other.meta.empty() &&
                std::find(opts.begin(), opts.end(), other.meta[0]) == opts.end())
              opts.push_back(other.meta[0]);
          }
          r.Shuffle(opts);
          const int answer =
              static_cast<int>(std::find(opts.begin(), opts.end(), cc.meta[0]) - opts.begin());
          mcqs->push_back({"pq" + std::to_string(mcqs->size() + 1),
                           "\"" + f + "\" is another way of saying", opts, answer, cc.id,
                           "paraphrase"});
        }
    }
  }
}

}  // namespace muchator::world
