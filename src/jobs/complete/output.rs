//! What `complete` writes per image (masked / generated / completed / summary PNGs,
//! progress.gif, loss.csv, z.npy) and for the run (summary.png, metrics.json).

use std::path::Path;

use crate::error::{Error, Result};
use crate::inpaint::blend::overlay;
use crate::inpaint::{Item, Metrics, Optimised, mean_metrics};
use crate::io::{npy, picture};

/// The images of one item, [c, s, s] each, as the summary row shows them.
pub struct Views<'a> {
    pub masked: &'a [f32],
    pub completed: &'a [f32],
}

/// Everything for one item under `dir`; returns its summary row (masked | generated |
/// completed | original) for the run's grid.
pub fn write_item(dir: &Path, item: &Item, r: &Optimised, views: &Views, save_z: bool, c: usize, s: usize) -> Result<Vec<f32>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    let save = |img: &[f32], name: &str| picture::save_png(&picture::to_rgb8(img, c, s), &dir.join(name));
    save(views.masked, "masked.png")?;
    save(&r.generated, "generated.png")?;
    save(views.completed, "completed.png")?;
    let row: Vec<f32> = [views.masked, &r.generated, views.completed, &item.image].iter().flat_map(|v| v.iter().copied()).collect();
    picture::save_png(&picture::grid(&row, 4, c, s, 4), &dir.join("summary.png"))?;
    if !r.frames.is_empty() {
        let mut frames: Vec<Vec<f32>> = r.frames.iter().map(|f| overlay(item, f, c, s)).collect();
        frames.push(views.completed.to_vec());
        write_gif(&frames, c, s, &dir.join("progress.gif"))?;
    }
    let mut csv = String::from("iteration,contextual,prior,total\n");
    for (t, (cv, pv)) in r.losses.iter().enumerate() {
        csv.push_str(&format!("{t},{cv},{pv},{}\n", cv + pv));
    }
    let loss_csv = dir.join("loss.csv");
    std::fs::write(&loss_csv, csv).map_err(|e| Error::new(format!("cannot write {}: {e}", loss_csv.display())))?;
    if save_z && !r.z.is_empty() {
        npy::write_f32(&dir.join("z.npy"), &[1, r.z.len()], &r.z)?;
    }
    Ok(row)
}

fn write_gif(frames: &[Vec<f32>], c: usize, s: usize, path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    picture::encode_gif(frames, c, s, file).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

#[derive(serde::Serialize)]
struct NamedMetrics<'a> {
    name: &'a str,
    #[serde(flatten)]
    metrics: Metrics,
}

#[derive(serde::Serialize)]
struct MetricsFile<'a> {
    images: Vec<NamedMetrics<'a>>,
    mean: NamedMetrics<'a>,
}

pub fn write_metrics_json(path: &Path, items: &[Item], m: &[Metrics]) -> Result<()> {
    let file = MetricsFile {
        images: items.iter().zip(m).map(|(i, &metrics)| NamedMetrics { name: &i.name, metrics }).collect(),
        mean: NamedMetrics { name: "mean", metrics: mean_metrics(m) },
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| Error::new(format!("cannot encode {}: {e}", path.display())))?;
    std::fs::write(path, json).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}
