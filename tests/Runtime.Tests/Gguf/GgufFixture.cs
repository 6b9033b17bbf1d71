using Qwen3Gen.Runtime.Tests.Checkpoints;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>Paths of the GGUF golden case (tests/Fixtures/golden-gguf/dense-q, copied from shared/golden-gguf).</summary>
internal static class GgufFixture
{
    /// <summary>The file types of the case: the F32 source and the five llama-quantize outputs.</summary>
    public static readonly string[] Types = ["f32", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"];

    public static readonly string[] QuantisedTypes = ["q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"];

    public static string Model(string type) => RepoPaths.Fixture("golden-gguf", "dense-q", $"model-{type}.gguf");

    public static string Dequant(string type) => RepoPaths.Fixture("golden-gguf", "dense-q", $"dequant-{type}.safetensors");

    public static string Expected(string type) => RepoPaths.Fixture("golden-gguf", "dense-q", $"expected-{type}.safetensors");
}
