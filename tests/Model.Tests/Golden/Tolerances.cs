namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Elementwise |x − expected| ≤ atol + rtol·|expected|, the suggested float32 tolerances of
/// tests/Fixtures/golden/README.md (measured float32 error of the reference: ≥ 18× inside them).
/// </summary>
public static class Tolerances
{
    public static readonly (double Rtol, double Atol) Logits = (1e-4, 1e-5);
    public static readonly (double Rtol, double Atol) Loss = (1e-5, 1e-6);
    public static readonly (double Rtol, double Atol) RouterLogits = (1e-4, 1e-5);
    public static readonly (double Rtol, double Atol) Grad = (1e-3, 1e-6);
    public static readonly (double Rtol, double Atol) AdamW = (1e-6, 1e-7);
    /// <summary>Intermediates (embedding, layer outputs, final norm, RoPE tables): as logits.</summary>
    public static readonly (double Rtol, double Atol) Activations = (1e-4, 1e-5);
}
