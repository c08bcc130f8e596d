//! JWTs: HS256 only, with `sub` (user), `tid` (tenant), `role`, `iat`, `nbf`, `exp`, `iss` and
//! `aud`. Verification pins the algorithm (so `alg: none` and RS/HS confusion fail), requires
//! `exp`, `iss`, `aud` and `sub` (and `tid` by the claims type), checks `nbf`, and allows
//! [`LEEWAY_SECS`] of clock skew. A verified token is only half of authentication: the caller
//! must also check that the user still exists in that tenant (see `crate::graphql` context).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{Role, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::JwtConfig;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of a Concierge token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The user's tenant.
    pub tid: TenantId,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Why a token was refused. Clients only ever learn "invalid or expired token".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Past `exp` (plus leeway).
    #[error("token expired")]
    Expired,
    /// Anything else: bad signature, wrong algorithm, issuer or audience, missing claims.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The signing key and the validation rules, built once from the configuration.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Builds keys and validation rules from the configuration.
    #[must_use]
    pub fn new(config: &JwtConfig) -> Self {
        let secret = config.secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.ttl,
        }
    }

    /// The lifetime of tokens issued without an explicit one.
    #[must_use]
    pub const fn default_ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `user` of `tenant` valid for `ttl`.
    ///
    /// # Errors
    /// Only if signing fails, which HS256 with a valid key does not.
    pub fn issue(
        &self,
        user: UserId,
        tenant: TenantId,
        role: Role,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let now = Utc::now();
        let ttl =
            chrono::Duration::from_std(ttl).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let expires = now + ttl;
        let claims = Claims {
            sub: user,
            tid: tenant,
            role,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((token, expires))
    }

    /// Verifies a token's signature and claims.
    ///
    /// # Errors
    /// [`TokenError::Expired`] past `exp`; [`TokenError::Invalid`] for everything else.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn keys(secret: &str, issuer: &str, audience: &str) -> JwtKeys {
        JwtKeys::new(&JwtConfig {
            secret: SecretString::from(secret.to_owned()),
            issuer: issuer.into(),
            audience: audience.into(),
            ttl: Duration::from_secs(3600),
        })
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_tenant() {
        let k = keys(
            "0123456789abcdef0123456789abcdef",
            "concierge",
            "concierge-api",
        );
        let (user, tenant) = (UserId::new(), TenantId::new());
        let (token, _) = k
            .issue(user, tenant, Role::Staff, Duration::from_secs(60))
            .unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.tid, claims.role),
            (user, tenant, Role::Staff)
        );
    }

    #[test]
    fn wrong_key_issuer_or_audience_is_refused() {
        let k = keys(
            "0123456789abcdef0123456789abcdef",
            "concierge",
            "concierge-api",
        );
        let (user, tenant) = (UserId::new(), TenantId::new());
        for other in [
            keys(
                "another-secret-another-secret-xx",
                "concierge",
                "concierge-api",
            ),
            keys("0123456789abcdef0123456789abcdef", "evil", "concierge-api"),
            keys("0123456789abcdef0123456789abcdef", "concierge", "other-api"),
        ] {
            let (token, _) = other
                .issue(user, tenant, Role::Manager, Duration::from_secs(60))
                .unwrap();
            assert!(matches!(k.verify(&token), Err(TokenError::Invalid(_))));
        }
    }
}
