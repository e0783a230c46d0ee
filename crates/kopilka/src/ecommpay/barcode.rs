//! Code 128 (ISO/IEC 15417) as SVG: set C for an even number of digits (CashtoCode codes), set B
//! for other printable ASCII.

/// Element widths (bar, space, bar, …) of symbols 0–106; 106 is the stop pattern.
const PATTERNS: [&str; 107] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
];
const START_B: usize = 104;
const START_C: usize = 105;
const STOP: usize = 106;
const QUIET_MODULES: usize = 10;

/// The symbol values of `text`, start and check symbol included, stop excluded.
fn symbols(text: &str) -> Vec<usize> {
    let numeric = !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.bytes().all(|b| b.is_ascii_digit());
    let mut values = if numeric {
        let mut v = vec![START_C];
        v.extend(
            text.as_bytes()
                .chunks(2)
                .map(|pair| usize::from((pair[0] - b'0') * 10 + (pair[1] - b'0'))),
        );
        v
    } else {
        let mut v = vec![START_B];
        v.extend(
            text.bytes()
                .map(|b| usize::from(b.clamp(32, 127) - 32).min(95)),
        );
        v
    };
    let check = values
        .iter()
        .enumerate()
        .map(|(i, v)| i.max(1) * v)
        .sum::<usize>()
        % 103;
    values.push(check);
    values
}

/// Module widths of the whole symbol, bars first.
fn widths(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for v in symbols(text).into_iter().chain([STOP]) {
        out.extend(PATTERNS[v].bytes().map(|b| usize::from(b - b'0')));
    }
    out
}

/// An SVG of `text`'s barcode, 2 px per module, with quiet zones and the text underneath.
pub fn code128_svg(text: &str) -> String {
    const MODULE: usize = 2;
    const HEIGHT: usize = 80;
    let mut x = QUIET_MODULES;
    let mut bars = String::new();
    for (i, w) in widths(text).into_iter().enumerate() {
        if i % 2 == 0 {
            bars.push_str(&format!(
                "<rect x=\"{}\" y=\"0\" width=\"{}\" height=\"{HEIGHT}\"/>",
                x * MODULE,
                w * MODULE
            ));
        }
        x += w;
    }
    let width = (x + QUIET_MODULES) * MODULE;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{h}\" viewBox=\"0 0 {width} {h}\"><rect width=\"{width}\" height=\"{h}\" fill=\"#fff\"/><g fill=\"#000\">{bars}</g><text x=\"{mid}\" y=\"{ty}\" font-family=\"monospace\" font-size=\"14\" text-anchor=\"middle\">{label}</text></svg>",
        h = HEIGHT + 20,
        mid = width / 2,
        ty = HEIGHT + 16,
        label = crate::http::html::escape(text),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_symbol_is_eleven_modules_and_the_stop_thirteen() {
        for (i, p) in PATTERNS.iter().enumerate() {
            let sum: usize = p.bytes().map(|b| usize::from(b - b'0')).sum();
            assert_eq!(sum, if i == STOP { 13 } else { 11 }, "symbol {i}");
        }
        let unique: std::collections::HashSet<_> = PATTERNS.iter().collect();
        assert_eq!(unique.len(), PATTERNS.len());
    }

    #[test]
    fn digits_use_set_c_with_the_weighted_check_symbol() {
        // Start C (105) + 12 + 34; check = (105 + 1·12 + 2·34) mod 103 = 82.
        assert_eq!(symbols("1234"), vec![105, 12, 34, 82]);
        // Start B (104) + 'A' (33); check = (104 + 33) mod 103 = 34.
        assert_eq!(symbols("A"), vec![104, 33, 34]);
        let svg = code128_svg("1234567890123456");
        assert!(svg.starts_with("<svg") && svg.contains("<rect x="));
        // Quiet zones + start, 8 pairs, check (11 each) + stop (13).
        assert_eq!(
            widths("1234567890123456").iter().sum::<usize>(),
            10 * 11 + 13
        );
    }
}
