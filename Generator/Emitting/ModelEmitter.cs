using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>Writes the generated files of one model. Decides nothing: the spec is already validated.</summary>
internal static class ModelEmitter
{
    public static void Emit(SourceProductionContext context, ModelSpec spec)
    {
    }
}
