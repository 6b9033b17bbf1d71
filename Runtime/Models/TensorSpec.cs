namespace Qwen3Gen.Models;

/// <summary>One parameter tensor of a generated model: its Hugging Face checkpoint key, shape and place in the flat buffer.</summary>
public sealed record TensorSpec(string Name, int[] Shape, long Offset)
{
    /// <summary>Number of elements (product of the shape).</summary>
    public long Length
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Matrices (ndim ≥ 2) get weight decay by default; 1-D norm weights do not (as the fixtures, nanoGPT and llm.c).</summary>
    public bool IsMatrix => Shape.Length >= 2;

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
