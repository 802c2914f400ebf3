//! Logs and traces for every `minoots` process.
//!
//! - Logs: `tracing` to stderr, human-readable or JSON (`--log-format json`); the level comes
//!   from `RUST_LOG` (filter syntax), else `LOG_LEVEL`, else `info`.
//! - Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/gRPC, as the
//!   service `OTEL_SERVICE_NAME` or the process's own name (`minoots`, `minoots-kernel`,
//!   `minoots-gateway`). Gateway spans are `minoots.gateway.*`, kernel spans `horology.kernel.*`.

use std::{sync::Arc, time::Duration};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Keeps the exporter alive; flushes pending spans when dropped.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The OTLP exporter drives tonic, which needs a Tokio reactor, from the SDK's own batch thread:
/// this runs each export on a small runtime of its own.
#[derive(Debug)]
struct OnRuntime {
    exporter: opentelemetry_otlp::SpanExporter,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl SpanExporter for OnRuntime {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let result = self.runtime.block_on(self.exporter.export(batch));
        std::future::ready(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource);
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(std::env::var("LOG_LEVEL").unwrap_or_default()))
        .ok()
        .filter(|f| f.to_string() != "")
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// A process's whole life: logs and traces set up for `service`, `main` run on a fresh
/// multi-threaded runtime, spans still buffered exported after the runtime stopped, and the
/// outcome as the exit code (2 when logging cannot start, 1 on an error, which is printed).
pub fn run_process<F>(service: &str, format: LogFormat, main: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let telemetry = match init(service, format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: setting up logs and traces: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the Tokio runtime");
    let result = runtime.block_on(main);
    drop(runtime);
    drop(telemetry);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Installs logging, and tracing export when configured. Call once, first thing.
pub fn init(service: &str, format: LogFormat) -> anyhow::Result<Telemetry> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    let provider = match &endpoint {
        None => None,
        Some(endpoint) => {
            let runtime = Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("minoots-otlp")
                    .enable_all()
                    .build()?,
            );
            let exporter = {
                let _inside = runtime.enter();
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint.clone())
                    .with_timeout(Duration::from_secs(5))
                    .build()?
            };
            let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(OnRuntime { exporter, runtime })
                    .with_resource(Resource::builder().with_service_name(service).build())
                    .build(),
            )
        }
    };
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("minoots"))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span()
                    && (meta.name().starts_with("minoots.") || meta.name().starts_with("horology."))
            }))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter()))
        .with(traces)
        .try_init()?;
    if let Some(endpoint) = endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}
