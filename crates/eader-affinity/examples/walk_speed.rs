//! Times IRN's random walk (radius 5, beta 10, 2^8 steps) on one stride-4 graph:
//! `cargo run --release -p eader-affinity --example walk_speed -- HEIGHT WIDTH CHANNELS [REPEATS]`.
//! Prints one JSON line: seconds per image (best of the repeats), the
//! transition matrix's bytes. `benches/walk_vs_irn.py` runs it beside IRN's
//! dense `propagate_to_edge`.

use std::time::Instant;

use eader_affinity::{propagate, Neighbourhood, Transition, IRN_BETA, IRN_EXP_TIMES, IRN_RADIUS};

fn main() {
    let args: Option<Vec<usize>> = std::env::args().skip(1).map(|a| a.parse().ok()).collect();
    let Some(args) = args.filter(|a| (3..=4).contains(&a.len()) && a[..3].iter().all(|&v| v > 0))
    else {
        eprintln!("usage: walk_speed HEIGHT WIDTH CHANNELS [REPEATS] (positive numbers)");
        std::process::exit(2);
    };
    let (h, w, c) = (args[0], args[1], args[2]);
    let repeats = args.get(3).copied().unwrap_or(3);
    let n = h * w;
    // A smooth boundary and maps (values do not change the work).
    let boundary: Vec<f32> = (0..n)
        .map(|i| {
            (0.5 + 0.5 * ((i % w) as f32 * 0.31).sin() * ((i / w) as f32 * 0.17).cos())
                .clamp(0.0, 1.0)
        })
        .collect();
    let maps: Vec<f32> = (0..c * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let neighbourhood = Neighbourhood::new(IRN_RADIUS).expect("radius");
    let mut best = f64::MAX;
    for _ in 0..repeats {
        let start = Instant::now();
        let out = propagate(
            &maps,
            &boundary,
            h,
            w,
            &neighbourhood,
            IRN_BETA,
            IRN_EXP_TIMES,
        )
        .expect("walk");
        std::hint::black_box(out);
        best = best.min(start.elapsed().as_secs_f64());
    }
    let t =
        Transition::from_boundary(&boundary, h, w, &neighbourhood, IRN_BETA).expect("transition");
    println!(
        "{{\"seconds\": {best}, \"transition_bytes\": {}, \"nodes\": {n}}}",
        t.memory_bytes()
    );
}
