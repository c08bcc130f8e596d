//! Words for the offline provider: a tokenizer that remembers where each token came from (so a
//! notification quotes the user's own text, numbers and punctuation intact), a light English
//! stemmer and stop words for matching questions against knowledge, and small text repairs.

/// One token of a message: a word (letters and digits, with inner `'`, `-`, `.`, `:`, `/` as in
/// "don't", "walk-in", "5.5", "12:00") or one punctuation character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Lower-cased text (apostrophes normalised to `'`).
    pub lower: String,
    /// Byte offset of the first character in the message.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
    /// Whether it is a word (else punctuation).
    pub word: bool,
    /// Whether the original starts with an upper-case letter.
    pub capitalised: bool,
}

impl Token {
    /// Whether this is the word `w` (lower case).
    pub fn is(&self, w: &str) -> bool {
        self.lower == w
    }

    /// Whether this is one of the words `ws`.
    pub fn is_any(&self, ws: &[&str]) -> bool {
        ws.contains(&self.lower.as_str())
    }
}

fn joins_words(c: char, prev: char, next: char) -> bool {
    match c {
        '\'' | '’' | '-' | '/' => prev.is_alphanumeric() && next.is_alphanumeric(),
        '.' | ':' | ',' => prev.is_ascii_digit() && next.is_ascii_digit(),
        _ => false,
    }
}

/// Splits `text` into tokens; whitespace separates and is dropped.
pub fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // A minus sign directly before a digit starts a number ("-18 degrees").
        let signed = (c == '-' || c == '−')
            && chars.get(i + 1).is_some_and(|(_, n)| n.is_ascii_digit())
            && (i == 0 || chars[i - 1].1.is_whitespace() || chars[i - 1].1 == '(');
        if c.is_alphanumeric() || signed {
            let mut j = i + 1;
            while j < chars.len() {
                let cj = chars[j].1;
                if cj.is_alphanumeric() {
                    j += 1;
                } else if j + 1 < chars.len() && joins_words(cj, chars[j - 1].1, chars[j + 1].1) {
                    j += 2;
                } else {
                    break;
                }
            }
            let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
            let raw = &text[start..end];
            tokens.push(Token {
                lower: raw.replace('’', "'").to_lowercase(),
                start,
                end,
                word: true,
                capitalised: c.is_uppercase(),
            });
            i = j;
        } else {
            let end = chars.get(i + 1).map_or(text.len(), |(b, _)| *b);
            tokens.push(Token {
                lower: c.to_string(),
                start,
                end,
                word: false,
                capitalised: false,
            });
            i += 1;
        }
    }
    tokens
}

/// Words that carry no subject in a question.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don't",
    "done",
    "for",
    "from",
    "get",
    "give",
    "go",
    "going",
    "got",
    "had",
    "has",
    "have",
    "he",
    "hello",
    "her",
    "here",
    "hers",
    "hey",
    "hi",
    "him",
    "his",
    "how",
    "i",
    "i'm",
    "if",
    "in",
    "into",
    "is",
    "isn't",
    "it",
    "it's",
    "its",
    "just",
    "know",
    "let",
    "like",
    "many",
    "may",
    "me",
    "might",
    "much",
    "must",
    "my",
    "need",
    "no",
    "not",
    "now",
    "of",
    "ok",
    "okay",
    "on",
    "one",
    "or",
    "our",
    "please",
    "pls",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "someone",
    "something",
    "tell",
    "time",
    "day",
    "than",
    "thank",
    "thanks",
    "that",
    "that's",
    "the",
    "their",
    "them",
    "then",
    "there",
    "there's",
    "these",
    "they",
    "thing",
    "this",
    "those",
    "to",
    "us",
    "want",
    "was",
    "we",
    "we're",
    "were",
    "what",
    "what's",
    "when",
    "when's",
    "where",
    "where's",
    "which",
    "who",
    "who's",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "you",
    "your",
];

/// Whether `w` (lower case) is a stop word.
pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// A light English stem, enough for "opening" ~ "open", "closed" ~ "closes" ~ "close",
/// "allergies" ~ "allergy", "cooking" ~ "cooks". Not Porter: it only has to make the same word
/// in different forms compare equal, and [`same_term`] covers what it misses.
pub fn stem(word: &str) -> String {
    let mut w = word.to_lowercase().replace('’', "'");
    if let Some(s) = w.strip_suffix("'s") {
        w = s.to_owned();
    }
    let long = |s: &str| s.chars().count() > 4;
    if long(&w) {
        if let Some(s) = w.strip_suffix("ies") {
            w = format!("{s}y");
        } else if let Some(s) = w.strip_suffix("ing").filter(|s| s.chars().count() >= 3) {
            w = undouble(s);
        } else if let Some(s) = w.strip_suffix("ed").filter(|s| s.chars().count() >= 3) {
            w = undouble(s);
        } else if ["sses", "shes", "ches", "xes", "ses"]
            .iter()
            .any(|suffix| w.ends_with(suffix))
        {
            w.truncate(w.len() - 2);
        } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
            w.truncate(w.len() - 1);
        }
    } else if w.chars().count() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w.truncate(w.len() - 1);
    }
    if long(&w) && w.ends_with('e') {
        w.truncate(w.len() - 1);
    }
    if w.chars().count() > 3 && w.ends_with('y') {
        w.truncate(w.len() - 1);
        w.push('i');
    }
    w
}

/// "stopp" -> "stop", but "fill" stays.
fn undouble(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n >= 2
        && chars[n - 1] == chars[n - 2]
        && !is_vowel(chars[n - 1])
        && !matches!(chars[n - 1], 'l' | 's' | 'z')
    {
        chars[..n - 1].iter().collect()
    } else {
        s.to_owned()
    }
}

/// Whether two stems name the same term: equal, one a prefix of the other of at least four
/// letters ("park" ~ "parking"), or sharing their first six letters ("allergi" ~ "allergen").
pub fn same_term(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.chars().count() >= 4 && long.starts_with(short) {
        return true;
    }
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    common >= 6
}

/// The content terms of a text: stems of its words that are not stop words, without repeats.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tokenize(text) {
        if !t.word || is_stop_word(&t.lower) {
            continue;
        }
        // Clock times and other numbers are kept whole; words lose their inner punctuation.
        let s = stem(&t.lower);
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// `text` with its first letter in upper case.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `text` with its first letter in lower case, unless the first word looks like a name or an
/// acronym (a second capital letter, or "I").
pub fn decapitalise(text: &str) -> String {
    let first_word = text.split_whitespace().next().unwrap_or_default();
    let keep = first_word == "I"
        || first_word.starts_with("I'")
        || first_word.chars().skip(1).any(char::is_uppercase);
    if keep {
        return text.to_owned();
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.lower).collect()
    }

    #[test]
    fn tokens_keep_numbers_times_and_contractions_whole() {
        assert_eq!(
            words("Tell Luca: the walk-in freezer read -18.5 degrees at 12:00, don't panic!"),
            [
                "tell", "luca", ":", "the", "walk-in", "freezer", "read", "-18.5", "degrees", "at",
                "12:00", ",", "don't", "panic", "!"
            ]
        );
        assert_eq!(words("Table 5."), ["table", "5", "."]);
        assert_eq!(words("it’s 4B"), ["it's", "4b"]);
        let t = tokenize("Hi Luca");
        assert!(t[1].capitalised);
        assert_eq!((t[1].start, t[1].end), (3, 7));
    }

    #[test]
    fn stems_make_word_forms_equal() {
        for (a, b) in [
            ("opening", "open"),
            ("opens", "open"),
            ("closed", "close"),
            ("closing", "closes"),
            ("cooking", "cooks"),
            ("allergies", "allergy"),
            ("hours", "hour"),
            ("deliveries", "delivery"),
            ("stopping", "stop"),
            ("Luca's", "luca"),
        ] {
            assert!(
                same_term(&stem(a), &stem(b)),
                "{a} ~ {b}: {} {}",
                stem(a),
                stem(b)
            );
        }
        assert!(same_term(&stem("allergens"), &stem("allergies")));
        assert!(same_term(&stem("parking"), &stem("park")));
        for (a, b) in [("pool", "lift"), ("car", "card"), ("nut", "number")] {
            assert!(!same_term(&stem(a), &stem(b)), "{a} !~ {b}");
        }
    }

    #[test]
    fn terms_drop_stop_words() {
        assert_eq!(terms("When does the pool open?"), ["pool", "open"]);
        assert_eq!(terms("Who is cooking on Friday?"), ["cook", "fridai"]);
        assert!(terms("What is it?").is_empty());
    }

    #[test]
    fn capitals() {
        assert_eq!(capitalise("table 5"), "Table 5");
        assert_eq!(capitalise("été"), "Été");
        assert_eq!(decapitalise("The fish"), "the fish");
        assert_eq!(decapitalise("I am late"), "I am late");
        assert_eq!(decapitalise("ASAP please"), "ASAP please");
    }
}
