pub struct StaticConfig;
pub struct StaticEmbedding;
