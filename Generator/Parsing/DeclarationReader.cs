using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>Reads a [Qwen3Model] class into a plain <see cref="DeclaredModel"/> (no validation here).</summary>
internal static class DeclarationReader
{
    public static DeclaredModel Read(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        var symbol = (INamedTypeSymbol)context.TargetSymbol;
        var syntax = (ClassDeclarationSyntax)context.TargetNode;
        var attribute = context.Attributes[0];
        var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(ct) as AttributeSyntax;

        var values = new List<NamedValue>();
        foreach (var pair in attribute.NamedArguments)
        {
            ct.ThrowIfCancellationRequested();
            // A value the compiler could not bind is already a compiler error; Config = null means "no config".
            if (pair.Value.Kind == TypedConstantKind.Error || (pair.Value.IsNull && pair.Value.Kind != TypedConstantKind.Array)) continue;
            var argSyntax = attributeSyntax?.ArgumentList?.Arguments
                .FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == pair.Key);
            var location = LocationInfo.From(argSyntax?.GetLocation() ?? attributeSyntax?.GetLocation());
            values.Add(ToNamedValue(pair.Key, pair.Value, location));
        }
        values.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));

        bool isPartial = symbol.DeclaringSyntaxReferences
            .Select(r => r.GetSyntax(ct))
            .OfType<ClassDeclarationSyntax>()
            .Any(c => c.Modifiers.Any(SyntaxKind.PartialKeyword));

        return new DeclaredModel(
            Namespace: symbol.ContainingNamespace.IsGlobalNamespace ? "" : symbol.ContainingNamespace.ToDisplayString(),
            ClassName: symbol.Name,
            Accessibility: symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal",
            IsPartial: isPartial,
            ContainingType: symbol.ContainingType?.Name ?? "",
            TypeParameterCount: symbol.TypeParameters.Length,
            AttributeLocation: LocationInfo.From(attributeSyntax?.GetLocation()),
            ClassLocation: LocationInfo.From(syntax.Identifier.GetLocation()),
            Values: new EquatableArray<NamedValue>(values.ToArray()));
    }

    private static NamedValue ToNamedValue(string name, TypedConstant value, LocationInfo? location)
    {
        if (value.Kind == TypedConstantKind.Array)
        {
            var items = value.IsNull ? new int[0] : value.Values.Select(v => v.Value is int i ? i : 0).ToArray();
            return new NamedValue(name, NamedValue.KindIntArray, "", new EquatableArray<int>(items), location);
        }
        return value.Value switch
        {
            int i => new NamedValue(name, NamedValue.KindInt, i.ToString(CultureInfo.InvariantCulture), EquatableArray<int>.Empty, location),
            double d => new NamedValue(name, NamedValue.KindDouble, d.ToString("R", CultureInfo.InvariantCulture), EquatableArray<int>.Empty, location),
            bool b => new NamedValue(name, NamedValue.KindBool, b ? "true" : "false", EquatableArray<int>.Empty, location),
            string s => new NamedValue(name, NamedValue.KindString, s, EquatableArray<int>.Empty, location),
            null => new NamedValue(name, NamedValue.KindString, "", EquatableArray<int>.Empty, location),
            var other => new NamedValue(name, NamedValue.KindString, other.ToString() ?? "", EquatableArray<int>.Empty, location),
        };
    }
}
