import XCTest
import Formats
import Golden
import Transformer

/// A fixture made on a model under TidalDecode lists the mode's parameters after the strategy's;
/// one made under full attention lists none of them (so the 48 catalogued fixtures are unchanged).
final class SparseAttentionRecordTests: XCTestCase {
    func testFixturesRecordSparseAttentionParametersOnlyWhenTheModeIsOn() throws {
        let entry = try XCTUnwrap(try Catalog.entries(includeRealModel: false).first { $0.id == "tiny-b/greedy-0" } ?? Catalog.entries(includeRealModel: false).first)
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let full = try Catalog.make(entry, model: model)
        XCTAssertFalse(full.parameters.contains { $0.0 == "sparse_attention" || $0.0 == "token_budget" })
        XCTAssertEqual(JSONValue.object(full.parameters).serialized(), JSONValue.object(entry.parameters).serialized())
        model.attentionMode = .tidal(TidalDecode(tokenBudget: 3, selectionLayer: 0, reselectionLayer: 1))
        let sparse = try Catalog.make(entry, model: model)
        XCTAssertEqual(JSONValue.object(Array(sparse.parameters.suffix(4))).serialized(),
                       #"{"sparse_attention":"tidal","token_budget":3,"selection_layer":0,"reselection_layer":1}"#)
    }
}
