//! File actions: write or append the delivery body (or a template with the timer's fields)
//! to a path inside the operator's sandbox directory; paths and symlinks that lead out of the
//! sandbox are refused.

use std::path::Component;

use minoots_proto::v1::{FileAction, FileWriteMode, Timer};

use super::{Attempt, Executor, failed, refused};
use crate::error::{KernelError, Result};

pub(super) fn validate(file: &FileAction, at: &dyn Fn(&str) -> String) -> Result<()> {
    let path = &file.path;
    if path.is_empty() {
        return Err(KernelError::invalid(at("file.path"), "is required"));
    }
    if path.starts_with('/')
        || path.contains('\0')
        || path.split(['/', '\\']).any(|part| part == "..")
    {
        return Err(KernelError::invalid(
            at("file.path"),
            "must be a relative path inside the sandbox, without '..'",
        ));
    }
    FileWriteMode::try_from(file.mode)
        .map_err(|_| KernelError::invalid(at("file.mode"), "unknown mode"))?;
    Ok(())
}

impl Executor {
    pub(super) async fn file(
        &self,
        timer: &Timer,
        file: &FileAction,
        key: &str,
        follows: Option<&serde_json::Value>,
    ) -> Attempt {
        let Some(sandbox) = &self.inner.config.file_sandbox else {
            return refused(
                "refused: file actions need a sandbox directory (MINOOTS_FILE_SANDBOX)",
            );
        };
        // The path may use the same placeholders as the content; the rendered path is checked.
        let rendered_path = render(&file.path, timer, key, None);
        let relative = std::path::Path::new(&rendered_path);
        let escapes = relative.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
        if rendered_path.is_empty() || escapes {
            return refused(format!(
                "refused: path {rendered_path:?} must stay inside the sandbox (relative, no `..`)"
            ));
        }
        let content = if file.content.is_empty() {
            let mut body = Self::delivery_body(timer, key, follows);
            body.push(b'\n');
            body
        } else {
            render(&file.content, timer, key, follows).into_bytes()
        };
        let path = sandbox.join(relative);
        let written = async {
            let parent = path.parent().unwrap_or(sandbox);
            tokio::fs::create_dir_all(parent).await?;
            // A symlink inside the sandbox must not lead out of it.
            let root = tokio::fs::canonicalize(sandbox).await?;
            if !tokio::fs::canonicalize(parent).await?.starts_with(&root)
                || tokio::fs::symlink_metadata(&path)
                    .await
                    .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(std::io::Error::other(
                    "refused: the path leaves the sandbox through a symlink",
                ));
            }
            let mut options = tokio::fs::OpenOptions::new();
            match file.mode() {
                FileWriteMode::Append => options.append(true).create(true),
                FileWriteMode::Write | FileWriteMode::Unspecified => {
                    options.write(true).create(true).truncate(true)
                }
            };
            let mut handle = options.open(&path).await?;
            tokio::io::AsyncWriteExt::write_all(&mut handle, &content).await?;
            tokio::io::AsyncWriteExt::flush(&mut handle).await?;
            handle.sync_data().await
        }
        .await;
        match written {
            Ok(()) => Ok((
                format!("wrote {} bytes to {}", content.len(), file.path),
                String::new(),
            )),
            Err(error) if error.to_string().starts_with("refused") => refused(error.to_string()),
            Err(error) => failed(error.to_string(), String::new()),
        }
    }
}

/// `{{timer.id}}`, `{{timer.name}}`, `{{timer.tenant_id}}`, `{{timer.fired_at}}`,
/// `{{idempotency_key}}` and `{{payload}}` (the delivery JSON; a callback's says what it
/// follows) in file contents.
fn render(template: &str, timer: &Timer, key: &str, follows: Option<&serde_json::Value>) -> String {
    let fired_at = timer
        .fired_at
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut text = template
        .replace("{{timer.id}}", &timer.id)
        .replace("{{timer.name}}", &timer.name)
        .replace("{{timer.tenant_id}}", &timer.tenant_id)
        .replace("{{timer.fired_at}}", &fired_at)
        .replace("{{idempotency_key}}", key);
    if text.contains("{{payload}}") {
        let payload =
            String::from_utf8(Executor::delivery_body(timer, key, follows)).expect("JSON is UTF-8");
        text = text.replace("{{payload}}", &payload);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{super::truncate, *};

    #[test]
    fn templates_render_timer_fields_and_output_is_truncated() {
        let timer = Timer {
            id: "t1".into(),
            name: "standup".into(),
            tenant_id: "acme".into(),
            ..Timer::default()
        };
        assert_eq!(
            render(
                "{{timer.name}} ({{timer.id}}) {{idempotency_key}}",
                &timer,
                "k",
                None
            ),
            "standup (t1) k"
        );
        assert!(render("{{payload}}", &timer, "k", None).contains("\"type\":\"timer.fired\""));
        assert_eq!(truncate("ééé".into(), 3), "é…[truncated]");
    }
}
