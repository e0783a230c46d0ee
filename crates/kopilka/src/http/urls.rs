//! URLs an admin configures.

use super::{ApiError, ApiResult};

/// Loopback hosts may use plain http (local development and tests); everything else https.
fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// An absolute https URL of at most 512 characters (plain http only on a loopback host): what
/// kopilka calls or sends a browser to on an admin's word.
pub fn check_url(field: &str, url: &str) -> ApiResult<()> {
    if url.is_empty() || url.chars().count() > 512 {
        return Err(ApiError::invalid(field, "must be 1 to 512 characters"));
    }
    let has_host = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if url.chars().any(char::is_whitespace) || !has_host {
        return Err(ApiError::invalid(field, "must be an absolute URL"));
    }
    if !(url.starts_with("https://") || is_loopback(url)) {
        return Err(ApiError::invalid(
            field,
            "must use https (plain http only on a loopback host)",
        ));
    }
    Ok(())
}
