//! IOPaint's discovery calls, in its shapes (iopaint/schema.py: `ServerConfigResponse`,
//! `ModelInfo`), so its web app and scripts find the models here: each served model is an
//! "inpaint" model (no prompt, no diffusion options); `POST /api/v1/model` switches which one
//! a request without `model` gets.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;

use super::{ApiError, ApiResult, App, ModelInfo};

fn model_info(m: &ModelInfo) -> serde_json::Value {
    serde_json::json!({
        "name": m.name,
        "path": m.name,
        "model_type": "inpaint",
        "is_single_file_diffusers": false,
        "need_prompt": false,
        "controlnets": [],
        "brushnets": [],
        "support_strength": false,
        "support_outpainting": false,
        "support_lcm_lora": false,
        "support_controlnet": false,
        "support_brushnet": false,
        "support_powerpaint_v2": false,
    })
}

pub async fn server_config(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "plugins": [],
        "modelInfos": app.models().iter().map(model_info).collect::<Vec<_>>(),
        "removeBGModel": "briaai/RMBG-1.4",
        "removeBGModels": [],
        "realesrganModel": "realesr-general-x4v3",
        "realesrganModels": [],
        "interactiveSegModel": "vit_b",
        "interactiveSegModels": [],
        "enableFileManager": false,
        "enableAutoSaving": false,
        "enableControlnet": false,
        "controlnetMethod": null,
        "disableModelSwitch": false,
        "isDesktop": false,
        "samplers": [],
    }))
}

pub async fn current_model(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(model_info(&app.current_model().1))
}

#[derive(serde::Deserialize)]
pub struct SwitchModel {
    name: String,
}

pub async fn switch_model(State(app): State<Arc<App>>, body: Result<Json<SwitchModel>, JsonRejection>) -> ApiResult<Json<serde_json::Value>> {
    let Json(req) = body.map_err(|e| ApiError::new(if e.status().is_client_error() { e.status() } else { StatusCode::BAD_REQUEST }, format!("{}: send {{\"name\": MODEL}}", e.body_text())))?;
    let (k, m) = app.model(&req.name)?;
    app.current.store(k, Ordering::Relaxed);
    Ok(Json(model_info(&m)))
}
