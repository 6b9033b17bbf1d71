using System.Runtime.CompilerServices;
using Qwen3Gen.Models;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>The fuzz tests' GGUF-shaped definition, registered once when the test assembly loads, so that a damaged file that still parses meets it.</summary>
internal static class TestCatalog
{
#pragma warning disable CA2255 // a test assembly's one-time setup: xunit 2 has no assembly fixture
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => ModelCatalog.Register(FuzzDenseQ.Definition);
}
