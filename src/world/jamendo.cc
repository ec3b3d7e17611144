#include "world/jamendo.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "convert/convert.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"

namespace muchator::world {

namespace {

using V = std::vector<std::string>;

// The real-catalog versions of the concept builders: the tag values the concept groups come
// first (Jamendo writes tags "genre---punkrock"; a concept lists the bare values).
Concept Tagged(Concept c, V tags) {
  c.tags = std::move(tags);
  return c;
}
Concept G(std::string id, double energy, V tags, V meta, V social, V qtrain, V qtest) {
  return Tagged(GenreConcept(std::move(id), energy, std::move(meta), std::move(social),
                             std::move(qtrain), std::move(qtest)),
                std::move(tags));
}
Concept M(std::string id, double valence, double arousal, V tags, V meta, V social, V qtrain,
          V qtest) {
  return Tagged(MoodConcept(std::move(id), valence, arousal, std::move(meta), std::move(social),
                            std::move(qtrain), std::move(qtest)),
                std::move(tags));
}
Concept S(std::string id, double energy, double valence, V moods, V genres, V tags, V meta,
          V social, V qtrain, V qtest) {
  return Tagged(
      SituationConcept(std::move(id), energy, valence, std::move(moods), std::move(genres),
                       std::move(meta), std::move(social), std::move(qtrain), std::move(qtest)),
      std::move(tags));
}

ConceptSet MakeJamendoConcepts() {
  ConceptSet c;
  c.catalog = "jamendo";
  // Genres: the 87 genre tags grouped into 25 concepts (rare or vague tags such as "90s" or
  // "hard" are left out: a song keeps them in its catalog genres but no query asks for them).
  c.genres = {
      G("electronic", 0.7, {"electronic", "electronica", "idm"}, {"electronic"},
        {"electro", "synth music"}, {"computer made music"}, {"blips and bleeps"}),
      G("soundtrack", 0.4, {"soundtrack"}, {"soundtrack"}, {"score music", "ost"},
        {"music from the credits"}, {"what plays over the end credits"}),
      G("pop", 0.6, {"pop", "synthpop", "electropop", "instrumentalpop"}, {"pop"},
        {"poppy tunes", "chart pop"}, {"catchy radio hits"}, {"top forty fare"}),
      G("ambient", 0.15, {"ambient", "darkambient", "atmospheric"}, {"ambient"},
        {"drones", "ambient textures"}, {"hazy sound beds"}, {"wallpaper music"}),
      G("rock", 0.75,
        {"rock", "poprock", "hardrock", "classicrock", "alternativerock", "instrumentalrock",
         "rocknroll", "progressive", "postrock", "psychedelic"},
        {"rock"}, {"guitar rock", "rock anthems"}, {"loud guitars"}, {"riff heavy stuff"}),
      G("classical", 0.25, {"classical", "symphonic", "orchestral", "choir", "medieval"},
        {"classical", "orchestral"}, {"symphonies", "orchestra pieces"}, {"old masters"},
        {"string quartet type"}),
      G("easylistening", 0.35, {"easylistening"}, {"easy listening"},
        {"light music", "elevator tunes"}, {"inoffensive pleasant stuff"},
        {"nothing too demanding"}),
      G("experimental", 0.45, {"experimental", "improvisation"}, {"experimental"},
        {"avant garde", "weird sounds"}, {"out there sounds"}, {"boundary pushing noise"}),
      G("alternative", 0.6, {"alternative"}, {"alternative"}, {"alt music", "alt picks"},
        {"off the mainstream"}, {"college radio stuff"}),
      G("chillout", 0.3, {"chillout", "downtempo", "triphop", "lounge"}, {"chillout", "downtempo"},
        {"chill beats", "lounge grooves"}, {"laid back beats"}, {"sunday morning grooves"}),
      G("dance", 0.82, {"dance", "club", "eurodance", "edm", "disco"}, {"dance"},
        {"club bangers", "dancefloor fillers"}, {"stuff to move to"}, {"four on the floor"}),
      G("hiphop", 0.7, {"hiphop", "rap"}, {"hip hop", "rap"}, {"bars", "rap beats"},
        {"spitting rhymes"}, {"boom bap stuff"}),
      G("indie", 0.5, {"indie", "singersongwriter"}, {"indie"}, {"indie gems", "indie picks"},
        {"underground bands"}, {"hipster favourites"}),
      G("folk", 0.35, {"folk", "popfolk", "celtic"}, {"folk"}, {"acoustic folk", "campfire songs"},
        {"strummy storytelling"}, {"banjo and harmonies"}),
      G("jazz", 0.45, {"jazz", "acidjazz", "jazzfusion", "swing", "fusion", "bossanova"}, {"jazz"},
        {"smooth jazz", "jazz cafe"}, {"sax and brushes"}, {"smoky club sounds"}),
      G("newage", 0.2, {"newage"}, {"new age"}, {"spa music", "healing sounds"},
        {"crystal shop music"}, {"incense and chimes"}),
      G("techno", 0.85, {"techno", "minimal", "trance"}, {"techno", "trance"},
        {"rave tracks", "warehouse beats"}, {"pounding electronic loops"},
        {"all night rave energy"}),
      G("house", 0.78, {"house", "deephouse"}, {"house"}, {"house grooves", "house music"},
        {"ibiza sounds"}, {"sunset terrace sets"}),
      G("world", 0.5, {"world", "ethno", "worldfusion", "latin", "chanson"},
        {"world music", "ethnic"}, {"global sounds", "world beats"}, {"music from far away lands"},
        {"sounds from other cultures"}),
      G("metal", 0.92, {"metal", "industrial"}, {"metal"}, {"headbanging", "metalhead"},
        {"screamy guitars"}, {"double bass drum madness"}),
      G("punk", 0.88, {"punkrock", "grunge"}, {"punk", "grunge"}, {"pogo", "three chord punk"},
        {"snotty fast songs"}, {"safety pin anthems"}),
      G("funk", 0.65, {"funk", "groove", "soul", "rnb"}, {"funk", "soul"},
        {"slap bass", "get down grooves"}, {"bouncy bass lines"}, {"old school get down"}),
      G("reggae", 0.5, {"reggae", "dub"}, {"reggae"}, {"island riddims", "dub"},
        {"jamaican grooves"}, {"offbeat skank rhythms"}),
      G("blues", 0.4, {"blues", "bluesrock"}, {"blues"}, {"delta blues", "twelve bar"},
        {"bluesy wailing"}, {"slide guitar laments"}),
      G("drum_and_bass", 0.9, {"drumnbass", "breakbeat", "dubstep"}, {"drum and bass", "breakbeat"},
        {"dnb", "jungle"}, {"rolling breakbeats"}, {"wobbly bass drops"}),
  };
  // Moods: the feeling-like mood/theme tags.
  c.moods = {
      M("happy", 0.85, 0.65, {"happy", "positive", "fun", "funny"}, {"happy", "cheerful"},
        {"feel good", "good vibes"}, {"puts a smile on my face"}, {"grinning ear to ear"}),
      M("sad", 0.15, 0.3, {"sad", "melancholic"}, {"sad", "melancholic"},
        {"tearjerker", "heartache"}, {"makes me want to weep"}, {"weepy and blue"}),
      M("energetic", 0.65, 0.9, {"energetic", "powerful", "fast", "upbeat", "heavy"},
        {"energetic", "upbeat"}, {"high energy", "pumped"}, {"gets my heart racing"},
        {"full throttle"}),
      M("relaxing", 0.65, 0.15, {"relaxing", "calm", "soft", "mellow", "slow"},
        {"relaxing", "calm"}, {"soothing", "unwinding"}, {"helps me unwind"},
        {"takes the edge off"}),
      M("dark", 0.2, 0.6, {"dark"}, {"dark"}, {"brooding", "gloomy"}, {"shadowy and ominous"},
        {"creepy after midnight feel"}),
      M("epic", 0.5, 0.85, {"epic", "dramatic"}, {"epic", "dramatic"}, {"cinematic", "goosebumps"},
        {"larger than life"}, {"heroic and huge"}),
      M("dreamy", 0.6, 0.3, {"dream"}, {"dreamy"}, {"floaty", "ethereal"}, {"head in the clouds"},
        {"like drifting through a dream"}),
      M("romantic", 0.75, 0.35, {"love", "romantic", "sexy", "ballad"}, {"romantic", "love"},
        {"lovey dovey", "swoon"}, {"sweetheart material"}, {"candlelight and roses"}),
      M("inspiring", 0.85, 0.6, {"inspiring", "uplifting", "motivational", "hopeful"},
        {"inspiring", "uplifting"}, {"motivation", "hopeful"}, {"lifts my spirits"},
        {"makes me believe in myself"}),
      M("emotional", 0.35, 0.45, {"emotional", "deep"}, {"emotional", "deep"}, {"feels", "moving"},
        {"hits me right in the heart"}, {"tugging at my heartstrings"}),
      M("meditative", 0.55, 0.1, {"meditative"}, {"meditative"}, {"zen", "mindful"},
        {"quiets my mind"}, {"still as a mountain lake"}),
      M("groovy", 0.75, 0.6, {"groovy", "cool"}, {"groovy", "cool"}, {"funky", "in the pocket"},
        {"makes my head nod"}, {"instant toe tapper"}),
      M("melodic", 0.6, 0.5, {"melodic"}, {"melodic"}, {"tuneful", "hummable"},
        {"a melody that sticks"}, {"earwormy"}),
  };
  // Situations: the use-like mood/theme tags ("film", "party", "christmas", ...).
  c.situations = {
      S("film", 0.5, 0.45, {"epic", "dark", "emotional"}, {"soundtrack", "classical"},
        {"film", "movie", "trailer", "drama"}, {"film", "movie"}, {"movie night", "cinema"},
        {"cutting together a video"}, {"editing my vlog footage"}),
      S("documentary", 0.4, 0.5, {"meditative", "inspiring", "emotional"}, {"ambient", "classical"},
        {"documentary"}, {"documentary"}, {"docu", "narration bed"}, {"voiceover underlay"},
        {"wildlife show narration"}),
      S("advertising", 0.65, 0.75, {"inspiring", "happy"}, {"pop", "electronic"},
        {"advertising", "corporate", "commercial"}, {"advertising", "corporate"},
        {"commercial jingle", "business promo"}, {"my company presentation"},
        {"product launch pitch"}),
      S("christmas", 0.55, 0.8, {"happy", "romantic"}, {"pop", "classical"},
        {"christmas", "holiday"}, {"christmas", "holiday"}, {"xmas", "festive season"},
        {"decorating the tree"}, {"wrapping presents by the fire"}),
      S("summer", 0.7, 0.85, {"happy", "energetic", "groovy"}, {"pop", "reggae", "house"},
        {"summer"}, {"summer"}, {"summer vibes", "sunshine"}, {"hot sunny afternoon"},
        {"long days at the pool"}),
      S("party", 0.85, 0.85, {"energetic", "happy", "groovy"}, {"dance", "house", "pop"}, {"party"},
        {"party"}, {"party time", "turn up"}, {"friends coming over tonight"},
        {"pre drinks at my place"}),
      S("sport", 0.85, 0.7, {"energetic", "inspiring"}, {"rock", "electronic", "hiphop"}, {"sport"},
        {"sport", "sports"}, {"workout", "gym"}, {"lifting weights"},
        {"sprint intervals on the field"}),
      S("travel", 0.6, 0.7, {"inspiring", "dreamy", "happy"}, {"world", "folk", "pop"},
        {"travel", "adventure"}, {"travel", "adventure"}, {"wanderlust", "road trip"},
        {"backpacking across countries"}, {"boarding a long flight"}),
      S("children", 0.6, 0.85, {"happy"}, {"pop", "folk"}, {"children"}, {"children", "kids"},
        {"family fun", "kids songs"}, {"keeping my toddler busy"}, {"nursery playtime"}),
      S("nature", 0.3, 0.65, {"relaxing", "meditative", "dreamy"}, {"ambient", "newage"},
        {"nature"}, {"nature"}, {"outdoors", "forest walk"}, {"walking through the woods"},
        {"birdsong and trees"}),
      S("space", 0.35, 0.5, {"dreamy", "dark"}, {"ambient", "electronic"}, {"space"}, {"space"},
        {"cosmic", "sci fi"}, {"looking at the stars"}, {"floating among galaxies"}),
      S("game", 0.7, 0.6, {"energetic", "epic"}, {"electronic", "soundtrack"}, {"game"},
        {"game", "video game"}, {"gaming", "level up"}, {"boss fight"}, {"grinding on my console"}),
      S("action", 0.9, 0.45, {"energetic", "epic", "dark"}, {"rock", "electronic"}, {"action"},
        {"action"}, {"adrenaline", "chase scene"}, {"car chase energy"}, {"explosions everywhere"}),
      S("horror", 0.5, 0.1, {"dark"}, {"ambient", "experimental"}, {"horror"}, {"horror"},
        {"spooky", "scary"}, {"haunted house night"}, {"halloween fright"}),
      S("background", 0.35, 0.6, {"relaxing", "melodic"}, {"easylistening", "chillout", "ambient"},
        {"background", "soundscape", "ambiental"}, {"background"}, {"background music", "bgm"},
        {"focusing at my desk"}, {"quiet hours of studying"}),
  };
  c.languages = {{"und", "Unspecified", 1.0}};  // Jamendo records no language
  c.context_situations = {
      {"film", "documentary", "christmas", "children", "game", "horror", "space"},  // home
      {"travel", "background"},                                                     // commute
      {"sport", "action"},                                                          // gym
      {"advertising", "background"},                                                // work
      {"background", "space"},                                                      // study
      {"nature", "summer", "travel", "sport"},                                      // outdoors
      {"party", "christmas", "summer"},                                             // social
      {"travel", "action", "summer"}};                                              // car
  return c;
}

// tag value -> concept index, for one kind of tag.
std::unordered_map<std::string, int> TagIndex(const std::vector<Concept>& list) {
  std::unordered_map<std::string, int> m;
  for (size_t i = 0; i < list.size(); ++i)
    for (const auto& t : list[i].tags) m.emplace(t, static_cast<int>(i));
  return m;
}

void AddOnce(std::vector<int>& v, int x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

const ConceptSet& JamendoConcepts() {
  static const ConceptSet set = MakeJamendoConcepts();
  return set;
}

void BuildJamendoCatalog(WorldModel& w) {
  const ConceptSet& c = JamendoConcepts();
  w.concepts = &c;
  if (w.config.catalog_input.empty())
    throw Error("the jamendo catalog needs its input", "--input",
                "give the MTG-Jamendo folder, e.g. --input ../shared/data/mtg-jamendo");
  const std::vector<JamendoTrack> tracks = ReadJamendoTracks(w.config.catalog_input);
  const auto genre_of = TagIndex(c.genres), mood_of = TagIndex(c.moods),
             situation_of = TagIndex(c.situations);

  // Concepts of every track; a track qualifies with a genre and a mood or theme.
  struct Candidate {
    size_t track;
    std::vector<int> genres, moods, situations;
  };
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < tracks.size(); ++i) {
    Candidate k{i, {}, {}, {}};
    for (const auto& tag : tracks[i].tags) {
      const size_t sep = tag.find("---");
      if (sep == std::string::npos) continue;
      const std::string kind = tag.substr(0, sep), value = tag.substr(sep + 3);
      if (kind == "genre") {
        if (auto it = genre_of.find(value); it != genre_of.end()) AddOnce(k.genres, it->second);
      } else if (kind == "mood/theme") {
        if (auto it = mood_of.find(value); it != mood_of.end()) AddOnce(k.moods, it->second);
        if (auto it = situation_of.find(value); it != situation_of.end())
          AddOnce(k.situations, it->second);
      }
    }
    // Concept order = inventory order (most frequent genres first), so genres[0] is stable.
    std::sort(k.genres.begin(), k.genres.end());
    std::sort(k.moods.begin(), k.moods.end());
    std::sort(k.situations.begin(), k.situations.end());
    if (!k.genres.empty() && (!k.moods.empty() || !k.situations.empty()))
      candidates.push_back(std::move(k));
  }
  const size_t want = static_cast<size_t>(std::max<int64_t>(0, w.config.songs));
  const size_t qualified = candidates.size();
  if (candidates.size() < 50)
    throw Error("only " + std::to_string(candidates.size()) +
                    " tracks have a genre and a mood or theme tag (50 needed)",
                w.config.catalog_input,
                "give the full MTG-Jamendo metadata (derived/track_tags_merged.tsv)");
  if (candidates.size() > want) {
    // A seeded sample: the `want` candidates of smallest hash of (seed, track id), kept in id
    // order.
    std::vector<std::pair<uint64_t, size_t>> keyed;
    keyed.reserve(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i)
      keyed.push_back(
          {HashString(tracks[candidates[i].track].id, w.config.seed * 0x9E3779B97F4A7C15ULL + 1),
           i});
    std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(want), keyed.end());
    keyed.resize(want);
    std::sort(keyed.begin(), keyed.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    std::vector<Candidate> kept;
    for (const auto& [h, i] : keyed) kept.push_back(std::move(candidates[i]));
    candidates = std::move(kept);
  }

  // Artists: the real ids, placeholder names (the copy has no names), main genre = their most
  // frequent genre concept; popularity simulated (Jamendo's copy has no play counts).
  std::map<std::string, int> artist_index;
  for (const auto& k : candidates) artist_index.emplace(tracks[k.track].artist, 0);
  w.artists.clear();
  for (auto& [id, index] : artist_index) {
    index = static_cast<int>(w.artists.size());
    Rng r = Rng::Derive(w.config.seed, "jamendo-artist", static_cast<uint64_t>(index));
    ArtistLatent a;
    a.id = id;
    a.name = "Jamendo artist " + JamendoNumber(id);
    a.genre = 0;
    a.language = 0;
    a.start_year = 0;
    a.popularity = std::pow(1.0 - r.Uniform(), -1.0 / 1.2);  // Pareto tail, as the synthetic world
    w.artists.push_back(a);
  }
  std::vector<std::vector<int>> genre_counts(w.artists.size(),
                                             std::vector<int>(c.genres.size(), 0));

  w.songs.clear();
  w.songs.reserve(candidates.size());
  for (size_t n = 0; n < candidates.size(); ++n) {
    const Candidate& k = candidates[n];
    const JamendoTrack& t = tracks[k.track];
    Rng r = Rng::Derive(w.config.seed, "jamendo-song", n);
    SongLatent s;
    const Song row = JamendoSong(t);
    s.id = row.id;
    s.title = row.title;
    s.album = row.album;
    s.artist = artist_index.at(t.artist);
    s.genres = k.genres;
    s.moods = k.moods;
    s.situations = k.situations;
    // Energy and valence follow the real tags (genre energy, mood arousal and valence) with noise.
    double energy = 0, valence = 0;
    int parts = 0;
    for (int g : s.genres) energy += c.genres[g].energy, ++parts;
    for (int m : s.moods) energy += c.moods[m].energy, ++parts;
    s.energy = std::clamp(energy / parts + r.Normal(0, 0.1), 0.0, 1.0);
    for (int m : s.moods) valence += c.moods[m].valence;
    const double v = s.moods.empty()
                         ? 0.5 + 0.4 * (s.energy - 0.5) + r.Normal(0, 0.15)
                         : valence / static_cast<double>(s.moods.size()) + r.Normal(0, 0.1);
    s.valence = std::clamp(v, 0.0, 1.0);
    s.quality = r.Normal(0, 1);
    s.popularity = w.artists[s.artist].popularity * std::exp(r.Normal(0, 1.0) + 0.3 * s.quality);
    s.language = 0;
    s.year = 0;  // unknown
    s.duration_s = t.duration_s > 0 ? t.duration_s : 200;
    s.catalog_genres = row.genres;
    s.catalog_tags = row.tags;
    for (int g : s.genres) ++genre_counts[s.artist][g];
    w.songs.push_back(std::move(s));
  }
  for (size_t a = 0; a < w.artists.size(); ++a)
    w.artists[a].genre = static_cast<int>(
        std::max_element(genre_counts[a].begin(), genre_counts[a].end()) - genre_counts[a].begin());
  w.config.songs = static_cast<int64_t>(w.songs.size());
  w.config.artists = static_cast<int64_t>(w.artists.size());
  spdlog::info(
      "jamendo catalog: {} of {} tracks qualify (a genre and a mood or theme); took {} songs by {} "
      "artists",
      qualified, tracks.size(), w.songs.size(), w.artists.size());
}

}  // namespace muchator::world
