//! Integration tests of the agent crate: the LLM providers against local fake servers speaking
//! the Gemini and OpenAI wire formats (`testkit::fake_llm`).

#[cfg(test)]
mod llm_gemini;
#[cfg(test)]
mod llm_openai;
#[cfg(test)]
mod llm_support;
