using System.Reflection;
using Qwen3Gen.Definitions;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>Registration is explicit: the Definitions assembly lists every class it compiles, and a generated class is not registered by being loaded.</summary>
public class ModelCatalogTests : IClassFixture<TestCatalog>
{
    [Fact]
    public void CompiledDefinitions_ListsEveryGeneratedClassOfTheAssembly()
    {
        var generated = typeof(CompiledDefinitions).Assembly.GetTypes()
            .Where(t => t.GetProperty("Definition", BindingFlags.Public | BindingFlags.Static)?.PropertyType == typeof(ModelDefinition))
            .Select(t => t.Name).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(13, generated.Length);
        Assert.Equal(generated, CompiledDefinitions.All.Select(d => d.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Definition_DescribesItsClass()
    {
        var d = Qwen3Tiny.Definition;
        Assert.Same(d, Qwen3Tiny.Definition);
        Assert.Equal(nameof(Qwen3Tiny), d.Name);
        Assert.Empty(d.Config.Differences(Qwen3Tiny.HyperParameters));
        Assert.Equal(Qwen3Tiny.Layout.Count, d.ParameterCount);
        using var model = d.Create(WeightFormat.F32);
        Assert.IsType<Qwen3Tiny>(model);
    }

    [Fact]
    public void AnUnregisteredClass_IsNotMatched()
    {
        // Unregistered: declared here, touched (its Definition built), never passed to ModelCatalog.Register.
        Assert.Equal(nameof(UnregisteredTiny), UnregisteredTiny.Definition.Name);
        Assert.DoesNotContain(ModelCatalog.All, d => d.Name == nameof(UnregisteredTiny));
        var message = ModelDirectory.NoMatchMessage(UnregisteredTiny.HyperParameters, null);
        Assert.Contains("matches no compiled model definition", message);
    }
}

[Qwen3Model(Vocab = 97, Hidden = 32, Layers = 1, Heads = 2, KvHeads = 1, HeadDim = 16, Ffn = 48, MaxPositions = 64)]
public partial class UnregisteredTiny;
