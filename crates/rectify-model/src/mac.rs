//! A keyed MAC (HMAC-SHA256) whose key may live outside rectify: the audit
//! log signs its anchors through it. The store implements it for a local
//! key; `rectify-aws` for an AWS KMS HMAC key (`GenerateMac`/`VerifyMac`),
//! so that the store never links the AWS SDK.

use async_trait::async_trait;

#[async_trait]
pub trait MacSigner: Send + Sync {
    /// HMAC-SHA256 of `message`.
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, String>;

    /// Whether `mac` is the HMAC-SHA256 of `message`.
    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, String>;

    /// Where the key is, for messages (never the key).
    fn describe(&self) -> String;
}
